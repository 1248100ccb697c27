"""Token buckets for the serving API, and their `RateLimit`/`RateLimit-Policy` header fields
(IETF draft-ietf-httpapi-ratelimit-headers-10).

A bucket holds up to `burst` tokens and refills at `rate` tokens a second; a request takes one
token from every bucket it is counted in (its key's and its organization's) or, if any of them
has less than one, from none. Two stores keep the buckets: `LocalBuckets` (this process) and
`RedisBuckets` (one atomic Lua script, so replicas share them; Redis's own clock is used so the
replicas' clocks need not agree).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

import redis.asyncio as aioredis


@dataclass(frozen=True)
class Limit:
    """One bucket to take a token from: `name` appears in the headers (`"key"`, `"organization"`),
    `bucket` identifies it in the store."""

    name: str
    bucket: str
    rate: float  # tokens per second
    burst: int  # the bucket's size


@dataclass(frozen=True)
class Outcome:
    """Whether the request was admitted, and each bucket's tokens after it (same order)."""

    allowed: bool
    tokens: tuple[float, ...]


def refill(tokens: float, elapsed: float, *, rate: float, burst: int) -> float:
    return min(float(burst), tokens + max(0.0, elapsed) * rate)


def window_seconds(limit: Limit) -> int:
    """The time an empty bucket takes to fill again (the policy's `w`), at least 1 s."""
    return max(1, math.ceil(limit.burst / limit.rate))


def seconds_until_token(tokens: float, rate: float) -> float:
    """How long until the bucket holds a whole token (0 when it already does)."""
    if tokens >= 1:
        return 0.0
    return (1.0 - tokens) / rate


def retry_after(limits: Sequence[Limit], outcome: Outcome) -> int:
    """Whole seconds (at least 1) until every bucket that refused holds a token again."""
    waits = [
        seconds_until_token(tokens, limit.rate)
        for limit, tokens in zip(limits, outcome.tokens, strict=True)
    ]
    return max(1, math.ceil(max(waits, default=1.0)))


def policy_header(limits: Sequence[Limit]) -> str:
    return ", ".join(f'"{lim.name}";q={lim.burst};w={window_seconds(lim)}' for lim in limits)


def ratelimit_header(limits: Sequence[Limit], outcome: Outcome) -> str:
    """The tighter bucket (fewest tokens left): its remaining whole tokens and the seconds until
    it gains one (0 when it is full)."""
    tightest = min(
        range(len(limits)), key=lambda i: (outcome.tokens[i], limits[i].burst, limits[i].name)
    )
    limit, tokens = limits[tightest], outcome.tokens[tightest]
    remaining = max(0, math.floor(tokens))
    if tokens >= limit.burst:
        reset = 0
    else:
        reset = max(1, math.ceil((math.floor(tokens) + 1 - tokens) / limit.rate))
    return f'"{limit.name}";r={remaining};t={reset}'


def headers(limits: Sequence[Limit], outcome: Outcome) -> dict[str, str]:
    return {
        "RateLimit-Policy": policy_header(limits),
        "RateLimit": ratelimit_header(limits, outcome),
    }


class LocalBuckets:
    """Buckets in this process (one replica): a dict under a lock, on the monotonic clock.
    When it holds `max_buckets`, those idle long enough to be full again are dropped (a full
    bucket and a missing one are the same), so the dict does not grow forever."""

    def __init__(self, *, max_buckets: int = 100_000) -> None:
        # bucket -> (tokens, at, rate, burst)
        self._buckets: dict[str, tuple[float, float, float, int]] = {}
        self._lock = threading.Lock()
        self._max_buckets = max_buckets

    def take(self, limits: Sequence[Limit], *, now: float | None = None) -> Outcome:
        at = time.monotonic() if now is None else now
        with self._lock:
            tokens = []
            for limit in limits:
                stored = self._buckets.get(limit.bucket)
                if stored is None:
                    tokens.append(float(limit.burst))
                else:
                    tokens.append(
                        refill(stored[0], at - stored[1], rate=limit.rate, burst=limit.burst)
                    )
            allowed = all(t >= 1 for t in tokens)
            if allowed:
                tokens = [t - 1 for t in tokens]
            if len(self._buckets) >= self._max_buckets:
                self._prune(at)
            for limit, left in zip(limits, tokens, strict=True):
                self._buckets[limit.bucket] = (left, at, limit.rate, limit.burst)
        return Outcome(allowed=allowed, tokens=tuple(tokens))

    def __len__(self) -> int:
        return len(self._buckets)

    def _prune(self, now: float) -> None:
        full = [
            bucket
            for bucket, (tokens, at, rate, burst) in self._buckets.items()
            if refill(tokens, now - at, rate=rate, burst=burst) >= burst
        ]
        for bucket in full:
            del self._buckets[bucket]


# KEYS: the buckets; ARGV: rate and burst per bucket, in order. Returns {allowed, tokens...}
# (tokens as strings: Redis truncates Lua numbers to integers). One script run is atomic, so
# concurrent replicas never both take the last token.
_TAKE_SCRIPT = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) + tonumber(now_parts[2]) / 1000000
local tokens = {}
local allowed = 1
for i = 1, #KEYS do
  local rate = tonumber(ARGV[2 * i - 1])
  local burst = tonumber(ARGV[2 * i])
  local stored = redis.call('HMGET', KEYS[i], 't', 'u')
  local t = tonumber(stored[1])
  local u = tonumber(stored[2])
  if t == nil or u == nil then
    t = burst
  else
    t = math.min(burst, t + math.max(0, now - u) * rate)
  end
  tokens[i] = t
  if t < 1 then allowed = 0 end
end
local out = {allowed}
for i = 1, #KEYS do
  local rate = tonumber(ARGV[2 * i - 1])
  local burst = tonumber(ARGV[2 * i])
  if allowed == 1 then tokens[i] = tokens[i] - 1 end
  redis.call('HSET', KEYS[i], 't', tostring(tokens[i]), 'u', tostring(now))
  redis.call('PEXPIRE', KEYS[i], math.ceil(burst / rate * 1000) + 1000)
  out[i + 1] = tostring(tokens[i])
end
return out
"""


class RedisBuckets:
    """Buckets in Redis, shared by every replica using the same server. Each bucket is a hash
    (`t` tokens, `u` last update) that expires once it would be full again."""

    def __init__(self, client: aioredis.Redis, *, prefix: str = "lensforge:ratelimit:") -> None:
        self._client = client
        self._prefix = prefix
        self._script = client.register_script(_TAKE_SCRIPT)

    async def take(self, limits: Sequence[Limit]) -> Outcome:
        keys = [self._prefix + limit.bucket for limit in limits]
        args: list[str] = []
        for limit in limits:
            args += [repr(float(limit.rate)), str(int(limit.burst))]
        reply = await self._script(keys=keys, args=args)
        allowed, *tokens = reply
        return Outcome(allowed=int(allowed) == 1, tokens=tuple(float(t) for t in tokens))
