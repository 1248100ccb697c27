"""Reading a prefix of an S3 bucket for an import, safely against a hostile endpoint.

A small S3 client (ListObjectsV2 and GetObject, path-style) rather than boto3, because an import
needs what boto3 cannot promise:
- the connection goes to the address that was checked (`PinnedEndpoint`), never to a second
  answer of the DNS;
- credentials are the request's own or none (unsigned requests): nothing is read from the
  environment, `~/.aws`, `.netrc`, proxies' settings or the instance metadata service;
- every byte received is counted (object bodies against their listed size and the import's
  budget; listing pages against a fixed cap), raw: a compressed body is never inflated;
- connect and read timeouts and one deadline for the whole fetch bound a tarpit endpoint.
"""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET  # types and ParseError only; parsing is defusedxml's
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import httpx
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from defusedxml import ElementTree as SafeET

from lensforge.kit.egress import PinnedEndpoint

# A page of 1000 keys of 1024 bytes each is about 1.3 MB of XML; anything far above is hostile.
_MAX_LISTING_BYTES = 8 * 1024 * 1024
_MAX_ERROR_BYTES = 64 * 1024


class S3ReadError(Exception):
    """Reading failed; `code` is the import report's issue code."""

    def __init__(self, message: str, code: str = "source_unreadable") -> None:
        super().__init__(message)
        self.message = message
        self.code = code


@dataclass(frozen=True)
class S3Limits:
    connect_timeout: float
    read_timeout: float
    deadline_seconds: float


@dataclass(frozen=True)
class S3Object:
    key: str
    size: int


class S3PrefixReader:
    def __init__(
        self,
        endpoint: PinnedEndpoint,
        *,
        bucket: str,
        region: str,
        credentials: tuple[str, str] | None,
        limits: S3Limits,
    ) -> None:
        self._endpoint = endpoint
        self._bucket = bucket
        self._region = region
        self._credentials = Credentials(*credentials) if credentials is not None else None
        self._limits = limits
        self._deadline = time.monotonic() + limits.deadline_seconds
        self._http = httpx.Client(
            timeout=httpx.Timeout(
                connect=limits.connect_timeout,
                read=limits.read_timeout,
                write=limits.read_timeout,
                pool=limits.connect_timeout,
            ),
            trust_env=False,  # no proxy variables, no .netrc credentials
            follow_redirects=False,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> S3PrefixReader:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def objects(self, prefix: str) -> Iterator[S3Object]:
        """Every object under `prefix`, page by page (sizes as listed: not to be trusted)."""
        token: str | None = None
        while True:
            query = [("list-type", "2"), ("max-keys", "1000"), ("prefix", prefix)]
            if token is not None:
                query.append(("continuation-token", token))
            page = _parse_xml(self._get_small(None, query, _MAX_LISTING_BYTES))
            entries = [_listed_object(element) for element in _children(page, "Contents")]
            yield from entries
            if _text(page, "IsTruncated") != "true":
                return
            following = _text(page, "NextContinuationToken")
            if not entries or not following or following == token:
                raise S3ReadError("the endpoint's listing does not advance")
            token = following

    def download(self, obj: S3Object, target: Path) -> int:
        """Stream one object to `target`; refuse a body longer than its listed size."""
        try:
            with self._send(obj.key, []) as response:
                if response.status_code != 200:
                    raise _http_error(response, self._read_capped(response, _MAX_ERROR_BYTES))
                written = 0
                with target.open("wb") as out:
                    # As the network delivers (a chunk size would wait to fill it, and meanwhile
                    # not see the deadline pass).
                    for chunk in response.iter_raw():
                        written += len(chunk)
                        if written > obj.size:
                            raise S3ReadError(
                                f"{obj.key} sent more bytes than its listed size ({obj.size})",
                                code="source_too_large",
                            )
                        self._check_deadline()
                        out.write(chunk)
        except httpx.HTTPError as exc:
            raise _transport_error(exc) from exc
        if written != obj.size:
            raise S3ReadError(f"{obj.key} ended after {written} of {obj.size} bytes")
        return written

    # --- requests -------------------------------------------------------------------------

    def _get_small(self, key: str | None, query: list[tuple[str, str]], cap: int) -> bytes:
        try:
            with self._send(key, query) as response:
                body = self._read_capped(response, cap)
                if response.status_code != 200:
                    raise _http_error(response, body)
                if response.headers.get("content-encoding", "identity") != "identity":
                    raise S3ReadError("the endpoint sent a compressed listing")
                return body
        except httpx.HTTPError as exc:
            raise _transport_error(exc) from exc

    def _read_capped(self, response: httpx.Response, cap: int) -> bytes:
        body = bytearray()
        for chunk in response.iter_raw():
            body += chunk
            if len(body) > cap:
                raise S3ReadError(
                    f"the endpoint sent an answer of more than {cap} bytes", "source_too_large"
                )
            self._check_deadline()
        return bytes(body)

    @contextmanager
    def _send(self, key: str | None, query: list[tuple[str, str]]) -> Iterator[httpx.Response]:
        """A streamed GET to the pinned address; signed when the import carries keys."""
        self._check_deadline()
        path = "/" + quote(self._bucket, safe="")
        if key is not None:
            path += "/" + quote(key, safe="/")
        query_string = "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in query)
        target = path + (f"?{query_string}" if query_string else "")
        headers = {"Host": self._endpoint.host_header, "Accept-Encoding": "identity"}
        if self._credentials is not None:
            signed = AWSRequest(method="GET", url=self._endpoint.named_url + target, headers={})
            S3SigV4Auth(self._credentials, "s3", self._region).add_auth(signed)
            headers.update({name: str(value) for name, value in signed.headers.items()})
        # https: the certificate is checked against the name, though we connect to the address.
        https = self._endpoint.scheme == "https"
        extensions = {"sni_hostname": self._endpoint.host} if https else {}
        request = self._http.build_request(
            "GET", self._endpoint.url + target, headers=headers, extensions=extensions
        )
        response = self._http.send(request, stream=True)
        try:
            yield response
        finally:
            response.close()

    def _check_deadline(self) -> None:
        if time.monotonic() > self._deadline:
            raise S3ReadError(
                f"reading the bucket took longer than {self._limits.deadline_seconds:g} s",
                code="source_timeout",
            )


def _transport_error(exc: httpx.HTTPError) -> S3ReadError:
    if isinstance(exc, httpx.TimeoutException):
        return S3ReadError(f"the endpoint did not answer in time ({exc!r})", "source_timeout")
    return S3ReadError(f"cannot reach the endpoint: {exc!r}")


def _http_error(response: httpx.Response, body: bytes) -> S3ReadError:
    code = message = ""
    try:
        root = SafeET.fromstring(body)
        code, message = _text(root, "Code") or "", _text(root, "Message") or ""
    except (ET.ParseError, ValueError):
        pass
    if 300 <= response.status_code < 400:
        message = message or "the endpoint redirects (is the region right?)"
    detail = ": ".join(part for part in (code, message) if part)
    return S3ReadError(f"the endpoint answered {response.status_code} {detail}".rstrip())


def _parse_xml(body: bytes) -> ET.Element:
    # defusedxml refuses entities and DTD tricks; the body itself is capped before parsing.
    try:
        return SafeET.fromstring(body)
    except (ET.ParseError, ValueError) as exc:
        raise S3ReadError(f"the endpoint sent an unreadable listing ({exc})") from exc


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _children(element: ET.Element, name: str) -> Iterator[ET.Element]:
    return (child for child in element if _local(child.tag) == name)


def _text(element: ET.Element, name: str) -> str | None:
    for child in _children(element, name):
        return (child.text or "").strip()
    return None


def _listed_object(element: ET.Element) -> S3Object:
    key, size = _text(element, "Key"), _text(element, "Size")
    if not key or size is None or not size.isascii() or not size.isdigit():
        raise S3ReadError("the endpoint's listing has an entry without a key or size")
    return S3Object(key=key, size=int(size))
