"""Rate limits of the serving API: a token bucket per API key per deployment and one per
organization, in this process or (with `settings.serving.redis_url`) in Redis shared by all
replicas. The bucket arithmetic and the header fields are in `lensforge.serving.ratelimit`.

When Redis cannot be reached the limiter fails open (the request goes through, a warning is
logged at most every few seconds): a missing limiter store never fails requests.
"""

from __future__ import annotations

import logging
import time
import uuid

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from lensforge.config import ServingSettings
from lensforge.serve.access import Caller
from lensforge.serving import ratelimit
from lensforge.serving.errors import RateLimited

logger = logging.getLogger(__name__)

# A request waits at most this long for Redis before the limiter gives up (and fails open).
_REDIS_TIMEOUT_SECONDS = 0.25
_WARN_EVERY_SECONDS = 10.0
# After a failure, requests skip Redis (failing open at once) for this long, so an unreachable
# server does not add its timeout to every request.
_RETRY_REDIS_AFTER_SECONDS = 1.0


class RateLimits:
    """`check` admits a request or raises `RateLimited` (429, with `Retry-After`)."""

    def __init__(self, settings: ServingSettings) -> None:
        self._defaults = settings.rate_limits
        self._local = ratelimit.LocalBuckets()
        self._redis: aioredis.Redis | None = None
        self._shared: ratelimit.RedisBuckets | None = None
        if settings.redis_url:
            self._redis = aioredis.Redis.from_url(
                settings.redis_url,
                socket_timeout=_REDIS_TIMEOUT_SECONDS,
                socket_connect_timeout=_REDIS_TIMEOUT_SECONDS,
            )
            self._shared = ratelimit.RedisBuckets(self._redis)
        self._last_warning = -_WARN_EVERY_SECONDS
        self._skip_redis_until = 0.0

    async def check(
        self,
        caller: Caller,
        *,
        organization_id: uuid.UUID,
        deployment_id: uuid.UUID,
        per_second: float | None,
        burst: int | None,
    ) -> dict[str, str]:
        """Takes a token from the caller's bucket for this deployment (the deployment's
        `per_second`/`burst`, else the settings' key defaults) and from the organization's.
        Returns the `RateLimit-Policy` and `RateLimit` headers for the answer (none when the
        shared store is unreachable); raises `RateLimited` when either bucket is empty."""
        # Signed-in users (no key) get a bucket of their own, like a key.
        who = f"key:{caller.key_id}" if caller.key_id is not None else f"user:{caller.user_id}"
        limits = (
            ratelimit.Limit(
                name="key",
                bucket=f"deployment:{deployment_id}:{who}",
                rate=per_second if per_second else self._defaults.key_per_second,
                burst=burst if burst else self._defaults.key_burst,
            ),
            ratelimit.Limit(
                name="organization",
                bucket=f"organization:{organization_id}",
                rate=self._defaults.organization_per_second,
                burst=self._defaults.organization_burst,
            ),
        )
        if self._shared is None:
            outcome = self._local.take(limits)
        elif time.monotonic() < self._skip_redis_until:
            return {}
        else:
            try:
                outcome = await self._shared.take(limits)
            except (RedisError, OSError) as exc:
                self._skip_redis_until = time.monotonic() + _RETRY_REDIS_AFTER_SECONDS
                self._warn(exc)
                return {}
        fields = ratelimit.headers(limits, outcome)
        if not outcome.allowed:
            wait = ratelimit.retry_after(limits, outcome)
            raise RateLimited(
                f"rate limit exceeded; retry in {wait} s", retry_after=wait, headers=fields
            )
        return fields

    async def close(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()

    def _warn(self, exc: Exception) -> None:
        now = time.monotonic()
        if now - self._last_warning >= _WARN_EVERY_SECONDS:
            self._last_warning = now
            logger.warning("rate limits not enforced: Redis is unreachable (%s)", exc)
