"""The egress policy: which addresses the server may connect to for a user (S3 imports)."""

from __future__ import annotations

import ipaddress

import pytest
from fastapi.testclient import TestClient

from lensforge.app import create_app
from lensforge.config import Settings
from lensforge.datasets.sources import S3Source, SourceNotAllowed, check_s3_source
from lensforge.errors import ConfigurationError
from lensforge.kit.egress import (
    AddressRefused,
    AllowEntry,
    EgressPolicy,
    EndpointInvalid,
    pin,
)

PUBLIC = ipaddress.ip_address("93.184.216.34")


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "127.8.9.10",
        "10.1.2.3",
        "172.31.0.1",
        "192.168.0.1",
        "169.254.169.254",
        "100.64.1.1",
        "0.0.0.0",
        "224.0.0.1",
        "240.0.0.1",
        "255.255.255.255",
        "::1",
        "::",
        "fe80::1",
        "fd00:ec2::254",
        "fc00::1",
        "fec0::1",
        "::ffff:127.0.0.1",
        "::ffff:169.254.169.254",
        "2002:7f00:1::",  # 6to4 of 127.0.0.1
        "2002:a9fe:a9fe::",  # 6to4 of 169.254.169.254
        "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
        "2001:0:4136:e378:8000:63bf:80ff:fffe",  # Teredo whose client is 127.0.0.1
    ],
)
def test_non_public_addresses_are_refused_by_default(address: str) -> None:
    assert EgressPolicy().refusal(ipaddress.ip_address(address), 80) is not None


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111"])
def test_public_addresses_are_allowed_by_default(address: str) -> None:
    assert EgressPolicy().refusal(ipaddress.ip_address(address), 443) is None


def test_public_addresses_can_be_turned_off() -> None:
    policy = EgressPolicy(allow_public=False, allow=[AllowEntry.parse("8.8.8.0/24")])
    assert policy.refusal(PUBLIC, 443) is not None
    assert policy.refusal(ipaddress.ip_address("8.8.8.8"), 443) is None


def test_the_platforms_own_endpoints_are_refused_even_when_public() -> None:
    policy = EgressPolicy(own_endpoints=frozenset({(PUBLIC, 443)}))
    reason = policy.refusal(PUBLIC, 443)
    assert reason is not None
    assert "own services" in reason
    assert policy.refusal(PUBLIC, 8443) is None  # another service of that host
    # A network entry opens the host's other services, not the platform's own.
    network = EgressPolicy(
        own_endpoints=frozenset({(PUBLIC, 443)}), allow=[AllowEntry.parse(f"{PUBLIC}/24")]
    )
    assert network.refusal(PUBLIC, 443) is not None
    assert network.refusal(PUBLIC, 8443) is None
    allowed = EgressPolicy(
        own_endpoints=frozenset({(PUBLIC, 443)}), allow=[AllowEntry.parse(f"{PUBLIC}:443")]
    )
    assert allowed.refusal(PUBLIC, 443) is None


def test_allow_list_entries() -> None:
    assert AllowEntry.parse("10.0.0.0/8").covers(ipaddress.ip_address("10.9.9.9"), 1)
    assert AllowEntry.parse("127.0.0.1").covers(ipaddress.ip_address("127.0.0.1"), 8333)
    by_port = AllowEntry.parse("127.0.0.1:8333")
    assert by_port.covers(ipaddress.ip_address("127.0.0.1"), 8333)
    assert not by_port.covers(ipaddress.ip_address("127.0.0.1"), 8000)
    v6 = AllowEntry.parse("[fd00::/8]:9000")
    assert v6.covers(ipaddress.ip_address("fd12::1"), 9000)
    assert not v6.covers(ipaddress.ip_address("fd12::1"), 9001)
    assert AllowEntry.parse("::1").covers(ipaddress.ip_address("::1"), 1)
    # Allowing a network never allows unspecified or multicast addresses.
    everything = EgressPolicy(allow=[AllowEntry.parse("0.0.0.0/0")])
    assert everything.refusal(ipaddress.ip_address("0.0.0.0"), 80) is not None
    assert everything.refusal(ipaddress.ip_address("127.0.0.1"), 80) is None


@pytest.mark.parametrize("entry", ["not-an-address", "10.0.0.0/8:99999", "[::1", "example.com"])
def test_bad_allow_list_entries_are_refused(entry: str) -> None:
    with pytest.raises(ValueError, match=r"address|network|port"):
        AllowEntry.parse(entry)


def test_pin_connects_to_the_checked_address_and_keeps_the_name() -> None:
    policy = EgressPolicy(allow=[AllowEntry.parse("127.0.0.0/8"), AllowEntry.parse("::1")])
    pinned = pin("http://localhost:8333", policy)
    assert pinned.address.is_loopback
    assert pinned.url in ("http://127.0.0.1:8333", "http://[::1]:8333")
    assert pinned.host_header == "localhost:8333"
    assert pinned.named_url == "http://localhost:8333"
    assert pin("https://127.0.0.1", policy).host_header == "127.0.0.1"


def test_every_resolved_address_must_be_allowed() -> None:
    # localhost may resolve to 127.0.0.1 and ::1: allowing only one of them is not enough
    # when the name also leads to the other.
    policy = EgressPolicy(allow=[AllowEntry.parse("127.0.0.1")])
    with pytest.raises(AddressRefused):
        pin("http://[::1]:80", policy)
    with pytest.raises(EndpointInvalid):
        pin("http://no-such-host.invalid", policy)


def test_a_malformed_allow_list_stops_the_server_at_start(settings: Settings) -> None:
    settings.datasets.s3_import_allowed_networks = ["10.0.0.0/8", "minio.internal"]
    with pytest.raises(ConfigurationError, match="S3_IMPORT_ALLOWED_NETWORKS"):  # noqa: SIM117
        with TestClient(create_app(settings, run_migrations=False)):
            pass


@pytest.mark.parametrize(
    ("bucket", "endpoint"),
    [
        ("lensforge", None),
        ("LensForge", "https://s3.eu-west-1.amazonaws.com"),
        ("other", "https://lensforge.s3.amazonaws.com"),  # virtual-hosted: the bucket is the name
    ],
)
def test_the_platform_bucket_on_aws_is_refused_at_any_aws_endpoint(
    settings: Settings, bucket: str, endpoint: str | None
) -> None:
    settings.storage.backend = "s3"
    settings.storage.s3.endpoint_url = None
    settings.storage.s3.bucket = "lensforge"
    source = S3Source(kind="s3", bucket=bucket, endpoint_url=endpoint)
    with pytest.raises(SourceNotAllowed, match="platform's own storage bucket"):
        check_s3_source(settings, source)
