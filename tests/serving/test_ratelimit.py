"""Token-bucket arithmetic and the IETF RateLimit header fields (pure, on a given clock)."""

from __future__ import annotations

from lensforge.serving.ratelimit import (
    Limit,
    LocalBuckets,
    Outcome,
    headers,
    retry_after,
    window_seconds,
)

KEY = Limit(name="key", bucket="k", rate=2.0, burst=5)
ORG = Limit(name="organization", bucket="o", rate=10.0, burst=20)


def test_a_bucket_spends_its_burst_then_refills_at_its_rate() -> None:
    buckets = LocalBuckets()
    outcomes = [buckets.take([KEY], now=100.0) for _ in range(6)]
    assert [o.allowed for o in outcomes] == [True] * 5 + [False]
    assert outcomes[4].tokens == (0.0,)
    assert not buckets.take([KEY], now=100.4).allowed  # 0.8 tokens
    assert buckets.take([KEY], now=100.5).allowed  # 1.0 token
    # Never more than the burst, however long it was idle.
    assert buckets.take([KEY], now=10_000.0).tokens == (4.0,)


def test_a_request_takes_from_every_bucket_or_from_none() -> None:
    buckets = LocalBuckets()
    tiny = Limit(name="key", bucket="tiny", rate=1.0, burst=1)
    assert buckets.take([tiny, ORG], now=0.0).tokens == (0.0, 19.0)
    refused = buckets.take([tiny, ORG], now=0.0)
    assert not refused.allowed
    assert refused.tokens == (0.0, 19.0)


def test_header_fields_follow_draft_10() -> None:
    outcome = Outcome(allowed=True, tokens=(3.25, 12.0))
    assert headers([KEY, ORG], outcome) == {
        "RateLimit-Policy": '"key";q=5;w=3, "organization";q=20;w=2',
        "RateLimit": '"key";r=3;t=1',
    }
    full = Outcome(allowed=True, tokens=(5.0, 20.0))
    assert headers([KEY, ORG], full)["RateLimit"] == '"key";r=5;t=0'


def test_retry_after_is_whole_seconds_and_at_least_one() -> None:
    slow = Limit(name="key", bucket="s", rate=0.25, burst=1)
    assert retry_after([slow, ORG], Outcome(allowed=False, tokens=(0.5, 7.0))) == 2
    assert retry_after([KEY, ORG], Outcome(allowed=False, tokens=(0.9, 7.0))) == 1
    assert window_seconds(Limit(name="key", bucket="x", rate=100.0, burst=1)) == 1


def test_buckets_full_again_are_forgotten_when_the_store_is_at_its_size() -> None:
    buckets = LocalBuckets(max_buckets=3)
    for name in ("a", "b", "c"):
        buckets.take([Limit(name="key", bucket=name, rate=1.0, burst=2)], now=0.0)
    busy = Limit(name="key", bucket="c", rate=1.0, burst=2)
    buckets.take([busy], now=0.9)
    buckets.take([busy], now=0.9)  # c: 0.9 left, not full at t=1.5
    buckets.take([Limit(name="key", bucket="d", rate=1.0, burst=2)], now=1.5)
    assert len(buckets) == 2  # a and b (full again) dropped; c and d kept
    assert buckets.take([busy], now=1.5).tokens == (0.5,)  # c's state survived the pruning
