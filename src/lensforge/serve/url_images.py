"""Images given by URL in the image API: off unless an administrator allows it, and then fetched
under the platform's egress policy (`lensforge.kit.egress`): every address the host resolves to
must be public or allow-listed (never loopback, private or link-local by default, nor the
platform's own services), the connection goes to the checked address itself (no DNS rebinding),
redirects are not followed (they would lead anywhere), and the body is capped in size and time."""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

import httpx

from lensforge.config import Settings
from lensforge.kit.egress import (
    EgressPolicy,
    EndpointInvalid,
    PinnedEndpoint,
    endpoint_addresses,
    parse_allow_list,
    resolve,
)
from lensforge.serving.errors import (
    AddressNotAllowed,
    UrlFetchFailed,
    UrlImagesDisabled,
    UrlImageTooLarge,
)

_DEFAULT_PORTS = {"http": 80, "https": 443}


def url_image_policy(settings: Settings) -> EgressPolicy:
    own = endpoint_addresses(settings.public_url) | endpoint_addresses(settings.serving.public_url)
    if settings.storage.backend == "s3":
        own |= endpoint_addresses(settings.storage.s3.endpoint_url)
    return EgressPolicy(
        allow=parse_allow_list(settings.serving.url_image_allowed_networks),
        own_endpoints=frozenset(own),
    )


class UrlImages:
    def __init__(self, settings: Settings) -> None:
        serving = settings.serving
        self.enabled = serving.allow_url_images
        self.max_bytes = serving.url_image_max_bytes
        self.timeout = serving.url_image_timeout_seconds
        self.policy = url_image_policy(settings)
        self._http = httpx.AsyncClient(
            follow_redirects=False, timeout=self.timeout, trust_env=False
        )

    async def close(self) -> None:
        await self._http.aclose()

    async def fetch(self, url: str) -> bytes:
        if not self.enabled:
            raise UrlImagesDisabled(
                "images by URL are turned off on this server (an administrator can allow them: "
                "LENSFORGE_SERVING__ALLOW_URL_IMAGES); send the image's bytes instead"
            )
        try:
            async with asyncio.timeout(self.timeout):
                return await self._fetch(url)
        except TimeoutError:
            error = UrlFetchFailed(f"fetching {url} took longer than {self.timeout:g} s")
            error.status_code = 504
            raise error from None

    async def _fetch(self, url: str) -> bytes:
        endpoint, target = await asyncio.to_thread(self._pin, url)
        headers = {"Host": endpoint.host_header, "Accept-Encoding": "identity"}
        extensions = {"sni_hostname": endpoint.host} if endpoint.scheme == "https" else {}
        request = self._http.build_request(
            "GET", endpoint.url + target, headers=headers, extensions=extensions
        )
        try:
            response = await self._http.send(request, stream=True)
        except httpx.TimeoutException:
            raise TimeoutError from None
        except httpx.HTTPError as exc:
            raise UrlFetchFailed(f"cannot fetch {url}: {exc!r}") from None
        try:
            if response.status_code != 200:
                raise UrlFetchFailed(f"{url} answered {response.status_code}, not an image")
            declared = response.headers.get("content-length")
            if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
                raise self._too_large(url)
            body = bytearray()
            async for chunk in response.aiter_raw():
                body += chunk
                if len(body) > self.max_bytes:
                    raise self._too_large(url)
            return bytes(body)
        except httpx.TimeoutException:
            raise TimeoutError from None
        except httpx.HTTPError as exc:
            raise UrlFetchFailed(f"cannot fetch {url}: {exc!r}") from None
        finally:
            await response.aclose()

    def _too_large(self, url: str) -> UrlImageTooLarge:
        return UrlImageTooLarge(f"{url} is larger than {self.max_bytes} bytes")

    def _pin(self, url: str) -> tuple[PinnedEndpoint, str]:
        try:
            parts = urlsplit(url.strip())
            port = parts.port
        except ValueError as exc:
            raise UrlFetchFailed(f"not a URL: {url!r} ({exc})") from None
        if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
            raise UrlFetchFailed(f"an image URL must be http:// or https://, not {url!r}")
        if parts.username is not None or parts.password is not None:
            raise UrlFetchFailed("an image URL must not carry credentials")
        host = parts.hostname
        port = port or _DEFAULT_PORTS[parts.scheme]
        try:
            addresses = resolve(host, port)
        except EndpointInvalid as exc:
            raise UrlFetchFailed(exc.message) from None
        for address in addresses:
            reason = self.policy.refusal(address, port)
            if reason is not None:
                raise AddressNotAllowed(f"fetching from {host}:{port} is not allowed: {reason}")
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        return PinnedEndpoint(parts.scheme, host, port, addresses[0]), target
