"""Keys made for one deployment, key rotation with an overlap, and the usage and live statistics
read from the usage records the serving replicas write."""

from __future__ import annotations

import csv
import io
import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from tests.deployments.helpers import API, add_usage, deployed, ultralytics_job, verified_export
from tests.fixtures.app import Account, member_with_role, sign_up


def _two_deployments(
    client: TestClient, account: Account, folder: Path
) -> tuple[dict[str, Any], dict[str, Any]]:
    job = ultralytics_job(client, account, folder)
    export = verified_export(client, account, job.job_id)
    return (
        deployed(client, account, name="alpha", export_id=export["id"]),
        deployed(client, account, name="beta", export_id=export["id"]),
    )


def _bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def test_a_deployment_key_reaches_its_deployment_only_with_deployment_scopes(
    client: TestClient, tmp_path: Path
) -> None:
    admin = sign_up(client)
    alpha, beta = _two_deployments(client, admin, tmp_path / "data")
    url = f"{API}/deployments/{alpha['id']}/keys"
    made = client.post(url, json={"name": "mobile app"}, headers=admin.headers)
    assert made.status_code == 201, made.text
    infer = made.json()
    assert infer["scopes"] == ["deployment:infer"]
    assert infer["deployment_ids"] == [alpha["id"]]
    assert infer["secret"].startswith("lfk_")
    reader = client.post(
        url,
        json={"name": "dashboard", "scopes": ["deployments:infer", "deployment:read"]},
        headers=admin.headers,
    ).json()
    assert reader["scopes"] == ["deployment:infer", "deployment:read"]
    for scopes in (["*"], ["deployment:manage"], ["dataset:read"], ["deployment:*"]):
        refused = client.post(url, json={"name": "x", "scopes": scopes}, headers=admin.headers)
        assert refused.status_code == 422, (scopes, refused.text)
        assert refused.json()["error"]["code"] == "invalid_scope"
    past = client.post(
        url, json={"name": "x", "expires_at": "2000-01-01T00:00:00Z"}, headers=admin.headers
    )
    assert past.status_code == 422
    listed = client.get(url, headers=admin.headers).json()
    assert [k["name"] for k in listed] == ["mobile app", "dashboard"]
    assert all("secret" not in k for k in listed)
    assert client.get(f"{API}/deployments/{beta['id']}/keys", headers=admin.headers).json() == []
    everything = client.get(f"{API}/api-keys", headers=admin.headers).json()
    assert {k["name"]: k["deployment_ids"] for k in everything} == {
        "mobile app": [alpha["id"]],
        "dashboard": [alpha["id"]],
    }
    # On the API server too, the key sees its own deployment and nothing else.
    key = _bearer(reader["secret"])
    assert client.get(f"{API}/deployments/{alpha['id']}", headers=key).status_code == 200
    other = client.get(f"{API}/deployments/{beta['id']}", headers=key)
    assert (other.status_code, other.json()["error"]["code"]) == (404, "deployment_not_found")
    assert [d["name"] for d in client.get(f"{API}/deployments", headers=key).json()["items"]] == [
        "alpha"
    ]
    guest = member_with_role(client, admin, "guest")
    denied = client.post(url, json={"name": "g"}, headers=guest.headers)
    assert (denied.status_code, denied.json()["error"]["code"]) == (403, "permission_denied")
    # A key that may manage deployments can make a key for one, never a wider key.
    manager_key = client.post(
        f"{API}/api-keys",
        json={"name": "ci", "scopes": ["deployment:manage"]},
        headers=admin.headers,
    ).json()
    by_key = client.post(url, json={"name": "from ci"}, headers=_bearer(manager_key["secret"]))
    assert by_key.status_code == 403
    assert by_key.json()["error"]["code"] == "scope_exceeds_creator"


def test_rotation_makes_a_twin_key_and_the_old_one_works_until_the_overlap_ends(
    client: TestClient, tmp_path: Path
) -> None:
    admin = sign_up(client)
    alpha, _ = _two_deployments(client, admin, tmp_path / "data")
    old = client.post(
        f"{API}/deployments/{alpha['id']}/keys",
        json={"name": "app", "scopes": ["deployment:read"]},
        headers=admin.headers,
    ).json()
    before = datetime.now(UTC)
    rotated = client.post(f"{API}/api-keys/{old['id']}/rotate", headers=admin.headers)
    assert rotated.status_code == 201, rotated.text
    new = rotated.json()
    assert new["id"] != old["id"]
    assert new["secret"] != old["secret"]
    assert (new["name"], new["scopes"]) == ("app", ["deployment:read"])
    assert new["deployment_ids"] == [alpha["id"]]
    assert new["rotated_from_id"] == old["id"]
    keys = {k["id"]: k for k in client.get(f"{API}/api-keys", headers=admin.headers).json()}
    old_end = datetime.fromisoformat(keys[old["id"]]["expires_at"].replace("Z", "+00:00"))
    assert before + timedelta(seconds=86_390) < old_end < before + timedelta(seconds=86_410)
    assert keys[new["id"]]["rotated_from_id"] == old["id"]
    read = f"{API}/deployments/{alpha['id']}"
    # During the overlap both keys work.
    assert client.get(read, headers=_bearer(old["secret"])).status_code == 200
    assert client.get(read, headers=_bearer(new["secret"])).status_code == 200
    twice = client.post(f"{API}/api-keys/{old['id']}/rotate", headers=admin.headers)
    assert (twice.status_code, twice.json()["error"]["code"]) == (409, "api_key_already_rotated")
    # No overlap: the replaced key stops at once.
    newest = client.post(
        f"{API}/api-keys/{new['id']}/rotate", json={"overlap_seconds": 0}, headers=admin.headers
    ).json()
    expired = client.get(read, headers=_bearer(new["secret"]))
    assert (expired.status_code, expired.json()["error"]["code"]) == (401, "api_key_expired")
    assert client.get(read, headers=_bearer(newest["secret"])).status_code == 200
    again = client.post(f"{API}/api-keys/{new['id']}/rotate", headers=admin.headers)
    assert (again.status_code, again.json()["error"]["code"]) == (409, "api_key_expired")
    # An explicit end; it never extends the old key's life, and never lies in the past.
    end = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    for body, code in (
        ({"old_expires_at": "2000-01-01T00:00:00Z"}, "validation_error"),
        ({"overlap_seconds": 10, "old_expires_at": end}, "validation_error"),
        ({"overlap_seconds": -1}, "validation_error"),
    ):
        bad = client.post(f"{API}/api-keys/{newest['id']}/rotate", json=body, headers=admin.headers)
        assert (bad.status_code, bad.json()["error"]["code"]) == (422, code), body
    last = client.post(
        f"{API}/api-keys/{newest['id']}/rotate", json={"old_expires_at": end}, headers=admin.headers
    )
    assert last.status_code == 201, last.text
    keys = {k["id"]: k for k in client.get(f"{API}/api-keys", headers=admin.headers).json()}
    assert datetime.fromisoformat(keys[newest["id"]]["expires_at"].replace("Z", "+00:00")) == (
        datetime.fromisoformat(end)
    )
    revoked = client.post(
        f"{API}/api-keys", json={"name": "plain", "scopes": ["*:read"]}, headers=admin.headers
    ).json()
    client.delete(f"{API}/api-keys/{revoked['id']}", headers=admin.headers)
    refused = client.post(f"{API}/api-keys/{revoked['id']}/rotate", headers=admin.headers)
    assert (refused.status_code, refused.json()["error"]["code"]) == (409, "api_key_revoked")


def test_rotation_is_held_to_what_creating_the_key_would_allow(
    client: TestClient, tmp_path: Path
) -> None:
    admin = sign_up(client)
    alpha, _ = _two_deployments(client, admin, tmp_path / "data")
    deployment_key = client.post(
        f"{API}/deployments/{alpha['id']}/keys", json={"name": "app"}, headers=admin.headers
    ).json()
    wide = client.post(
        f"{API}/api-keys", json={"name": "wide", "scopes": ["*"]}, headers=admin.headers
    ).json()
    narrow = client.post(
        f"{API}/api-keys",
        json={"name": "keys", "scopes": ["api_key:manage"]},
        headers=admin.headers,
    ).json()
    by_narrow = client.post(
        f"{API}/api-keys/{wide['id']}/rotate", headers=_bearer(narrow["secret"])
    )
    assert (by_narrow.status_code, by_narrow.json()["error"]["code"]) == (
        403,
        "scope_exceeds_creator",
    )
    # A deployment's key needs what making one needs: deployment:manage.
    no_manage = client.post(
        f"{API}/api-keys/{deployment_key['id']}/rotate", headers=_bearer(narrow["secret"])
    )
    assert (no_manage.status_code, no_manage.json()["error"]["code"]) == (403, "scope_denied")
    # Someone else's key is not found, unless one is the organization's admin.
    engineer = member_with_role(client, admin, "standard_engineer")
    theirs = client.post(f"{API}/api-keys/{wide['id']}/rotate", headers=engineer.headers)
    assert theirs.status_code == 404
    other = sign_up(client)
    foreign = client.post(f"{API}/api-keys/{wide['id']}/rotate", headers=other.headers)
    assert foreign.status_code == 404


def test_usage_is_grouped_by_day_or_hour_and_downloads_as_csv(
    client: TestClient, tmp_path: Path
) -> None:
    admin = sign_up(client)
    alpha, beta = _two_deployments(client, admin, tmp_path / "data")
    day = datetime(2026, 3, 2, tzinfo=UTC)
    org = admin.organization_id
    add_usage(client, alpha, org, day + timedelta(hours=10, minutes=5), total_ms=10.0)
    add_usage(client, alpha, org, day + timedelta(hours=10, minutes=40), status=429, total_ms=30)
    add_usage(client, alpha, org, day + timedelta(hours=11, minutes=10), total_ms=20.0, images=3)
    add_usage(client, alpha, org, day + timedelta(days=1, hours=9), total_ms=40.0)
    add_usage(client, alpha, org, day - timedelta(seconds=1), total_ms=99.0)  # before the window
    add_usage(client, beta, org, day + timedelta(hours=10, minutes=10), status=500, total_ms=7)
    window = "start=2026-03-02T00:00:00Z&end=2026-03-04T00:00:00Z"
    url = f"{API}/deployments/{alpha['id']}/usage?{window}"
    by_day = client.get(url, headers=admin.headers)
    assert by_day.status_code == 200, by_day.text
    rows = by_day.json()["rows"]
    assert [(r["period"], r["requests"], r["errors"], r["images"]) for r in rows] == [
        ("2026-03-02T00:00:00Z", 3, 1, 5),
        ("2026-03-03T00:00:00Z", 1, 0, 1),
    ]
    assert rows[0]["deployment_name"] == "alpha"
    assert rows[0]["bytes_in"] == 5000
    assert rows[0]["bytes_out"] == 600
    assert rows[0]["compute_ms"] == 30.0
    # Over [10, 20, 30] ms: the median and the interpolated 95th percentile.
    assert (rows[0]["p50_total_ms"], rows[0]["p95_total_ms"]) == (20.0, 29.0)
    assert (rows[1]["p50_total_ms"], rows[1]["p95_total_ms"]) == (40.0, 40.0)
    by_hour = client.get(f"{url}&group=hour", headers=admin.headers).json()["rows"]
    assert [(r["period"], r["requests"]) for r in by_hour] == [
        ("2026-03-02T10:00:00Z", 2),
        ("2026-03-02T11:00:00Z", 1),
        ("2026-03-03T09:00:00Z", 1),
    ]
    assert by_hour[0]["p50_total_ms"] == 20.0
    as_csv = client.get(f"{url}&format=csv", headers=admin.headers)
    assert as_csv.status_code == 200
    assert as_csv.headers["content-type"].startswith("text/csv")
    assert "attachment" in as_csv.headers["content-disposition"]
    table = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert [(r["period"], r["requests"], r["p95_total_ms"]) for r in table] == [
        ("2026-03-02T00:00:00Z", "3", "29.0"),
        ("2026-03-03T00:00:00Z", "1", "40.0"),
    ]
    organization = client.get(f"{API}/usage?{window}", headers=admin.headers).json()["rows"]
    assert [(r["period"][:10], r["deployment_name"], r["requests"]) for r in organization] == [
        ("2026-03-02", "alpha", 3),
        ("2026-03-02", "beta", 1),
        ("2026-03-03", "alpha", 1),
    ]
    org_csv = client.get(f"{API}/usage?{window}&format=csv&group=hour", headers=admin.headers)
    assert len(org_csv.text.strip().splitlines()) == 1 + 4
    # Another organization's records never show.
    other = sign_up(client)
    assert client.get(f"{API}/usage?{window}", headers=other.headers).json()["rows"] == []
    for query, code in (
        ("start=2026-03-04T00:00:00Z&end=2026-03-02T00:00:00Z", "invalid_range"),
        ("start=2024-01-01T00:00:00Z&end=2026-03-02T00:00:00Z", "range_too_long"),
        (f"{window}&group=hour&start=2026-01-01T00:00:00Z", "range_too_long"),
        (f"{window}&group=week", "validation_error"),
        (f"{window}&format=xml", "validation_error"),
    ):
        bad = client.get(f"{API}/deployments/{alpha['id']}/usage?{query}", headers=admin.headers)
        assert (bad.status_code, bad.json()["error"]["code"]) == (422, code), query


def test_stats_give_a_point_per_minute_with_rates_and_latency_percentiles(
    client: TestClient, tmp_path: Path
) -> None:
    admin = sign_up(client)
    alpha, beta = _two_deployments(client, admin, tmp_path / "data")
    now = datetime.now(UTC)
    org = admin.organization_id
    recent = [now - timedelta(seconds=s) for s in (1, 2, 3)]
    add_usage(client, alpha, org, recent[0], total_ms=10.0)
    add_usage(client, alpha, org, recent[1], total_ms=20.0, status=503)
    add_usage(client, alpha, org, recent[2], total_ms=30.0)
    earlier = now - timedelta(minutes=3)
    add_usage(client, alpha, org, earlier, total_ms=5.0)
    add_usage(client, alpha, org, now - timedelta(minutes=30), total_ms=5.0)  # outside
    add_usage(client, beta, org, recent[0], total_ms=1000.0)  # another deployment
    response = client.get(f"{API}/deployments/{alpha['id']}/stats?minutes=5", headers=admin.headers)
    assert response.status_code == 200, response.text
    stats = response.json()
    assert stats["minutes"] == 5
    points = stats["points"]
    assert len(points) == 5
    minutes = [datetime.fromisoformat(p["minute"].replace("Z", "+00:00")) for p in points]
    assert all(b - a == timedelta(minutes=1) for a, b in itertools.pairwise(minutes))
    by_minute = dict(zip(minutes, points, strict=True))

    def minute_of(moment: datetime) -> datetime:
        return moment.replace(second=0, microsecond=0)

    expected: dict[datetime, list[tuple[float, bool]]] = {}
    for moment, (total, failed) in zip(
        recent, [(10.0, False), (20.0, True), (30.0, False)], strict=True
    ):
        expected.setdefault(minute_of(moment), []).append((total, failed))
    expected.setdefault(minute_of(earlier), []).append((5.0, False))
    assert sum(p["requests"] for p in points) == 4
    for minute, calls in expected.items():
        point = by_minute[minute]
        assert point["requests"] == len(calls)
        assert point["errors"] == sum(1 for _, failed in calls if failed)
        assert point["requests_per_second"] > 0
        assert point["p50_ms"] is not None
        assert point["p99_ms"] >= point["p95_ms"] >= point["p50_ms"]
    if len({minute_of(m) for m in recent}) == 1:  # the three recent calls in one minute
        point = by_minute[minute_of(recent[0])]
        assert (point["p50_ms"], point["p95_ms"], point["p99_ms"]) == (20.0, 29.0, 29.8)
        assert point["error_rate"] == round(1 / 3, 4)
    empty = [p for m, p in by_minute.items() if m not in expected]
    assert all(p["requests"] == 0 and p["p50_ms"] is None for p in empty)
    for minutes_query in ("0", "1441", "x"):
        bad = client.get(
            f"{API}/deployments/{alpha['id']}/stats?minutes={minutes_query}",
            headers=admin.headers,
        )
        assert bad.status_code == 422


def test_dates_at_the_edges_of_the_calendar_are_refused_not_crashed_on(
    client: TestClient, tmp_path: Path
) -> None:
    admin = sign_up(client)
    alpha, _ = _two_deployments(client, admin, tmp_path / "data")
    for query in ("end=0001-01-01T00:00:00Z", "start=9999-12-31T23:59:59-01:00"):
        bad = client.get(f"{API}/usage?{query}", headers=admin.headers)
        assert (bad.status_code, bad.json()["error"]["code"]) == (422, "invalid_range"), query
    key = client.post(
        f"{API}/deployments/{alpha['id']}/keys", json={"name": "k"}, headers=admin.headers
    ).json()
    far = client.post(
        f"{API}/api-keys/{key['id']}/rotate",
        json={"old_expires_at": "9999-12-31T23:59:59-01:00"},
        headers=admin.headers,
    )
    assert far.status_code == 422
