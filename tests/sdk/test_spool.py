"""The report spool on its own: numbering that survives restarts, acks, torn lines, the lock."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lensforge.sdk import SpoolError
from lensforge.sdk.spool import Spool


def lines(spool: Spool) -> list[dict[str, object]]:
    return [json.loads(line) for line in spool.path.read_bytes().splitlines()]


def test_sequences_increase_and_continue_after_reopening(tmp_path: Path) -> None:
    spool = Spool(tmp_path, attempt=2)
    assert spool.dir == tmp_path / "attempt-2"
    assert [spool.append("log", {"message": str(i)}) for i in range(3)] == [1, 2, 3]
    spool.close()

    again = Spool(tmp_path, attempt=2)
    assert again.append("progress", {"epoch": 1}) == 4
    records = lines(again)
    assert [r["sequence"] for r in records] == [1, 2, 3, 4]
    assert records[3]["kind"] == "progress"
    assert str(records[0]["at"]).endswith("+00:00")
    again.close()


def test_each_attempt_numbers_on_its_own(tmp_path: Path) -> None:
    first = Spool(tmp_path, attempt=1)
    first.append("log", {})
    first.close()
    second = Spool(tmp_path, attempt=2)
    assert second.append("log", {}) == 1
    second.close()


def test_pending_batches_and_ack_persist(tmp_path: Path) -> None:
    spool = Spool(tmp_path, attempt=1)
    for i in range(5):
        spool.append("log", {"message": f"m{i}"})
    batch = spool.pending(limit=3)
    assert batch is not None
    assert [json.loads(line)["sequence"] for line in batch.lines] == [1, 2, 3]
    assert json.loads(batch.body())["reports"][2]["data"] == {"message": "m2"}
    spool.ack(batch)
    rest = spool.pending()
    assert rest is not None
    assert [json.loads(line)["sequence"] for line in rest.lines] == [4, 5]
    spool.close()

    reopened = Spool(tmp_path, attempt=1)
    assert json.loads((reopened.dir / "ack.json").read_text()) == {
        "offset": batch.end,
        "sequence": 3,
    }
    pending = reopened.pending()
    assert pending is not None
    assert [json.loads(line)["sequence"] for line in pending.lines] == [4, 5]
    reopened.ack(pending)
    assert reopened.pending() is None
    assert reopened.unsent_bytes() == 0
    reopened.close()

    # Everything was acknowledged: the numbering still continues from the ack.
    last = Spool(tmp_path, attempt=1)
    assert last.append("log", {}) == 6
    last.close()


def test_acks_must_come_in_order(tmp_path: Path) -> None:
    spool = Spool(tmp_path, attempt=1)
    for _ in range(4):
        spool.append("log", {})
    first = spool.pending(limit=2)
    assert first is not None
    spool.ack(first)
    with pytest.raises(SpoolError, match="in order"):
        spool.ack(first)
    spool.close()


def test_a_torn_last_line_is_cut_off(tmp_path: Path) -> None:
    spool = Spool(tmp_path, attempt=1)
    spool.append("log", {"message": "whole"})
    spool.close()
    with spool.path.open("ab") as raw:  # what a kill in the middle of a write leaves
        raw.write(b'{"sequence": 2, "kind": "lo')
    again = Spool(tmp_path, attempt=1)
    assert again.append("log", {"message": "after"}) == 2
    assert [r["data"] for r in lines(again)] == [{"message": "whole"}, {"message": "after"}]
    again.close()


def test_rejected_batches_are_kept_and_skipped(tmp_path: Path) -> None:
    spool = Spool(tmp_path, attempt=1)
    spool.append("log", {"message": "bad"})
    spool.append("log", {"message": "good"})
    bad = spool.pending(limit=1)
    assert bad is not None
    spool.reject(bad, 422, '{"message": "nope"}')
    kept = [json.loads(line) for line in spool.rejected_path.read_text().splitlines()]
    assert kept[0]["status_code"] == 422
    assert kept[0]["reports"][0]["data"] == {"message": "bad"}
    rest = spool.pending()
    assert rest is not None
    assert len(rest.lines) == 1
    spool.close()


def test_batches_stop_at_the_byte_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("lensforge.sdk.spool.MAX_BATCH_BYTES", 1000)
    spool = Spool(tmp_path, attempt=1)
    for _ in range(10):
        spool.append("log", {"message": "x" * 300})
    batch = spool.pending()
    assert batch is not None
    assert 1 <= len(batch.lines) < 10
    spool.close()


def test_one_process_per_attempt_spool(tmp_path: Path) -> None:
    spool = Spool(tmp_path, attempt=1)
    with pytest.raises(SpoolError, match="another process"):
        Spool(tmp_path, attempt=1)
    spool.close()
    Spool(tmp_path, attempt=1).close()


def test_sync_and_closed_spool(tmp_path: Path) -> None:
    spool = Spool(tmp_path, attempt=1)
    spool.append("log", {})
    spool.sync()
    spool.close()
    with pytest.raises(SpoolError, match="closed"):
        spool.append("log", {})
