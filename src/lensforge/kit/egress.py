"""Which network addresses the server may connect to on a user's behalf (outbound requests to an
address a user chose: an S3 import's endpoint).

Without a rule, such a request is a server-side request forgery: the server's network position
reaches what the user cannot (loopback services, the private network, the cloud metadata service
at 169.254.169.254, the platform's own storage). So:

- every address the host name resolves to is checked, and the connection then goes to the
  checked address itself (`PinnedEndpoint`), so a second DNS answer cannot swap it (rebinding);
- public addresses are allowed (unless the administrator turns that off), other addresses
  (loopback, private, link-local, unique-local, shared, reserved, and IPv6 forms that embed such
  an IPv4 address) only when an allow-list entry covers them, and the platform's own endpoints
  only when an entry names their port;
- unspecified and multicast addresses never.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from urllib.parse import SplitResult, urlsplit

from lensforge.errors import BadRequest, Forbidden

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_DEFAULT_PORTS = {"http": 80, "https": 443}
# NAT64 prefixes (RFC 6052, RFC 8215): the last 32 bits are an IPv4 address a gateway reaches.
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))


class AddressRefused(Forbidden):
    code = "address_not_allowed"


class EndpointInvalid(BadRequest):
    code = "invalid_endpoint"


@dataclass(frozen=True)
class AllowEntry:
    """One allow-list entry: a network (or one address), optionally only one port."""

    network: IPNetwork
    port: int | None = None

    @classmethod
    def parse(cls, text: str) -> AllowEntry:
        """`10.0.0.0/8`, `127.0.0.1`, `127.0.0.1:8333`, `[fd00::/8]:9000`, `::1`."""
        text = text.strip()
        port: int | None = None
        if text.startswith("["):
            inside, bracket, rest = text[1:].partition("]")
            if not bracket or (rest and not rest.startswith(":")):
                raise ValueError(f"not an address, network or [address]:port: {text!r}")
            text = inside
            if rest:
                port = int(rest[1:])
        elif text.count(":") == 1:
            text, _, port_text = text.partition(":")
            port = int(port_text)
        if port is not None and not 0 < port < 65536:
            raise ValueError(f"not a port: {port}")
        return cls(ipaddress.ip_network(text, strict=False), port)

    def covers(self, address: IPAddress, port: int) -> bool:
        return address in self.network and (self.port is None or self.port == port)


@dataclass(frozen=True)
class EgressPolicy:
    allow: Sequence[AllowEntry] = ()
    allow_public: bool = True
    # (address, port) pairs of the platform's own services: refused unless allow-listed.
    own_endpoints: frozenset[tuple[IPAddress, int]] = field(default_factory=frozenset)

    def refusal(self, address: IPAddress, port: int) -> str | None:
        """Why connecting to `address:port` is refused, or None when it is allowed."""
        if address.is_unspecified or address.is_multicast:
            return f"{address} is not a host address"
        if (address, port) in self.own_endpoints:
            # Allowing a network (for a MinIO next to the server, say) must not open the
            # platform's API or storage on the same host: only an entry naming the port does.
            if any(entry.port == port and entry.covers(address, port) for entry in self.allow):
                return None
            return (
                f"{_join(address, port)} is one of this platform's own services "
                "(only an allow-list entry with its port allows it)"
            )
        if any(entry.covers(address, port) for entry in self.allow):
            return None
        if not self.allow_public:
            return f"{address} is not in the allow-list"
        if not _is_public(address):
            return f"{address} is a {_kind(address)} address"
        return None


@dataclass(frozen=True)
class PinnedEndpoint:
    """An endpoint whose host name was resolved and checked: connect to `url` (an address, never
    a name), send `host` as the Host header and, for https, as the TLS server name."""

    scheme: str
    host: str
    port: int
    address: IPAddress

    @property
    def url(self) -> str:
        return f"{self.scheme}://{_join(self.address, self.port)}"

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if _DEFAULT_PORTS[self.scheme] == self.port else f"{host}:{self.port}"

    @property
    def named_url(self) -> str:
        """The URL as the user wrote it (what request signatures cover)."""
        return f"{self.scheme}://{self.host_header}"


def parse_endpoint(url: str) -> SplitResult:
    """An http(s) URL naming a server and nothing else (no credentials, path, query)."""
    try:
        parts = urlsplit(url.strip())
        _ = parts.port  # raises on a bad port
    except ValueError as exc:
        raise EndpointInvalid(f"not a URL: {url!r} ({exc})") from exc
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        raise EndpointInvalid(f"the endpoint must be an http:// or https:// URL, not {url!r}")
    if parts.username is not None or parts.password is not None:
        raise EndpointInvalid("the endpoint URL must not carry credentials")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise EndpointInvalid("the endpoint URL must name a server only (no path or query)")
    return parts


def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address `host` resolves to (an address literal resolves to itself)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise EndpointInvalid(f"cannot resolve {host!r}: {exc}") from exc
    found: list[IPAddress] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        address = ipaddress.ip_address(str(sockaddr[0]).partition("%")[0])
        if address not in found:
            found.append(address)
    if not found:
        raise EndpointInvalid(f"{host!r} resolves to no address")
    return found


def pin(url: str, policy: EgressPolicy) -> PinnedEndpoint:
    """Resolve the endpoint's host, refuse unless every address is allowed, pin the first."""
    parts = parse_endpoint(url)
    host = str(parts.hostname)
    port = parts.port or _DEFAULT_PORTS[parts.scheme]
    addresses = resolve(host, port)
    for address in addresses:
        reason = policy.refusal(address, port)
        if reason is not None:
            raise AddressRefused(
                f"connecting to {host}:{port} is not allowed: {reason}",
                details={"host": host, "port": port, "address": str(address)},
            )
    return PinnedEndpoint(parts.scheme, host, port, addresses[0])


def endpoint_addresses(url: str | None) -> set[tuple[IPAddress, int]]:
    """The (address, port) pairs a configured URL of our own reaches; empty if it cannot be read
    or resolved (a platform setting that does not resolve protects nothing anyway)."""
    if not url:
        return set()
    try:
        parts = parse_endpoint(url)
        port = parts.port or _DEFAULT_PORTS[parts.scheme]
        return {(address, port) for address in resolve(str(parts.hostname), port)}
    except EndpointInvalid:
        return set()


def parse_allow_list(entries: Iterable[str]) -> list[AllowEntry]:
    return [AllowEntry.parse(entry) for entry in entries]


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if any(address in net for net in _NAT64):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _is_public(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            return _is_public(embedded)
        if address.is_site_local:
            return False
    return address.is_global and not address.is_reserved


def _kind(address: IPAddress) -> str:
    if isinstance(address, ipaddress.IPv6Address) and _embedded_ipv4(address) is not None:
        return f"non-public (it embeds {_embedded_ipv4(address)})"
    for name in ("loopback", "link_local", "private", "reserved"):
        if getattr(address, f"is_{name}"):
            return name.replace("_", "-")
    return "non-public"


def _join(address: IPAddress, port: int) -> str:
    return f"[{address}]:{port}" if address.version == 6 else f"{address}:{port}"
