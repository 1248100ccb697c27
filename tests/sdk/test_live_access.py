"""The SDK in-process against a real server: what a job token can reach, reports the server
refuses, batching, links that expire mid-download."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from lensforge.config import Settings
from lensforge.sdk import ServerError, Trainer, TrainerConfig, dataset_download
from tests.sdk.live import (
    FAST,
    Attempt,
    World,
    applied_sequences,
    finish,
    output,
    restartable,
    spool_of,
    spooled,
    start_trainer,
)


def test_expired_links_are_fetched_again(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Links that expire before the download uses them (storage answers 403) are asked for
    again; the images arrive, each verified."""
    short = settings.model_copy(
        update={
            "storage": settings.storage.model_copy(update={"presign_default_expiry_seconds": 1})
        }
    )
    fetched: list[int] = []
    original_fetch = dataset_download._Links._fetch

    def counting_fetch(self: dataset_download._Links, chunk: int) -> None:
        fetched.append(chunk)
        original_fetch(self, chunk)

    delayed: list[str] = []
    original_get = dataset_download._Links.get

    def stale_get(self: dataset_download._Links, sha: str) -> str:
        url = original_get(self, sha)
        if not delayed:  # the first link is used only after it expired
            delayed.append(sha)
            time.sleep(2.2)
        return url

    refreshed: list[str] = []
    original_refresh = dataset_download._Links.refresh

    def recording_refresh(self: dataset_download._Links, sha: str, stale: str) -> str:
        refreshed.append(sha)  # called only after storage refused the link
        return original_refresh(self, sha, stale)

    monkeypatch.setattr(dataset_download._Links, "refresh", recording_refresh)
    monkeypatch.setattr(dataset_download._Links, "_fetch", counting_fetch)
    monkeypatch.setattr(dataset_download._Links, "get", stale_get)
    with restartable(short) as server:
        world = World(server)
        dataset_id = world.classification_version(tmp_path / "d", {"train": 4, "val": 2})
        world.create_job(dataset_id, basic={"epochs": 1, **FAST})
        attempt = world.claim()
        trainer = Trainer(TrainerConfig.from_env(attempt.env))
        try:
            data = trainer.download_dataset()
        finally:
            trainer.close(timeout=10)
        for item in data.items():
            assert hashlib.sha256(data.image_path(item).read_bytes()).hexdigest() == item["sha256"]
        assert delayed[0] in refreshed  # storage refused the expired link (403)
        assert len(fetched) >= 2  # the first links, then fresh ones
        world.close()


def test_the_sdk_only_reaches_its_own_data_and_outputs(settings: Settings, tmp_path: Path) -> None:
    with restartable(settings) as server:
        world = World(server)
        mine = world.classification_version(tmp_path / "mine", {"train": 4, "val": 2}, seed=1)
        other = world.classification_version(tmp_path / "other", {"train": 4, "val": 2}, seed=2)
        world.create_job(mine, basic={"epochs": 1, **FAST})
        attempt = world.claim()
        trainer = Trainer(TrainerConfig.from_env(attempt.env))
        try:
            own = trainer.download_dataset()
            assert len(own.items()) == 6
            assert all(own.image_path(item).is_file() for item in own.items())

            # Another dataset's image hashes: refused as a whole.
            other_job = world.create_job(other, basic={"epochs": 1, **FAST})
            other_attempt = world.claim()
            foreign = Trainer(
                TrainerConfig.from_env(other_attempt.env, spool_dir=tmp_path / "spool2")
            )
            theirs = [i["sha256"] for i in foreign.api.call("GET", "/dataset/manifest")["items"]]
            foreign.close()
            ours = {item["sha256"] for item in own.items()}
            not_ours = [sha for sha in theirs if sha not in ours]
            assert not_ours
            with pytest.raises(ServerError) as refused:
                trainer.api.call("POST", "/dataset/urls", json={"sha256": not_ours[:1]})
            assert refused.value.status_code == 403

            # Outputs: links only under jobs/<own job>/outputs/, and a link is for its key only.
            answer = trainer.api.call(
                "POST", "/outputs/urls", json={"files": [{"name": "plots/a.txt"}]}
            )
            link = answer["urls"]["plots/a.txt"]
            assert f"jobs/{attempt.claim.job_id}/outputs/plots/a.txt" in link
            forged = link.replace(str(attempt.claim.job_id), other_job)
            assert httpx.put(forged, content=b"x").status_code == 403
            for name in ("../../x", "/abs", f"../../{other_job}/outputs/x"):
                with pytest.raises(ServerError) as bad:
                    trainer.api.call("POST", "/outputs/urls", json={"files": [{"name": name}]})
                assert bad.value.status_code == 422
            with pytest.raises(ValueError, match="relative"):
                trainer.upload_file(tmp_path / "mine.zip", "../escape")

            # Another job's token is refused on this job.
            stolen = httpx.get(
                f"{server.url}/api/v1/trainer/jobs/{attempt.claim.job_id}",
                headers={"Authorization": f"Bearer {other_attempt.claim.token}"},
            )
            assert stolen.status_code == 401

            # The SDK's own uploads land where they should, verified.
            sent = trainer.upload_file(tmp_path / "mine.zip", "extras/data.zip")
            assert (
                sent["sha256"] == hashlib.sha256((tmp_path / "mine.zip").read_bytes()).hexdigest()
            )
        finally:
            trainer.close(timeout=10)
        world.close()


def test_reports_refused_for_good_are_kept_not_retried(settings: Settings, tmp_path: Path) -> None:
    with restartable(settings) as server:
        world = World(server)
        dataset_id = world.classification_version(tmp_path / "d", {"train": 4, "val": 2})
        world.create_job(dataset_id, basic={"epochs": 1, **FAST})
        attempt = world.claim()
        assert finish(start_trainer(attempt), attempt) == 0, output(attempt)
        # The attempt is over: a process still holding its token (a zombie) is refused (403).
        late = Trainer(TrainerConfig.from_env(attempt.env))
        late.info("a late line")
        late.error("an urgent late line")
        assert late.flush(timeout=30)
        rejected = (spool_of(attempt) / "reports.rejected").read_text().splitlines()
        entries = [json.loads(line) for line in rejected]
        assert {e["status_code"] for e in entries} == {403}
        kept = [r["data"]["message"] for e in entries for r in e["reports"]]
        assert kept == ["a late line", "an urgent late line"]
        assert late.sender.failures == 0
        assert late.close(timeout=5)
        world.close()


def test_reports_are_sent_in_batches(settings: Settings, tmp_path: Path) -> None:
    """Many buffered logs go in POSTs of at most 200, each applied once; one report the server
    refuses (422) is isolated and kept, without taking the others of its batch with it."""
    with restartable(settings) as server:
        world = World(server)
        dataset_id = world.classification_version(tmp_path / "d", {"train": 4, "val": 2})
        job_id = world.create_job(dataset_id, basic={"epochs": 1, **FAST})
        attempt = world.claim()
        trainer = Trainer(TrainerConfig.from_env(attempt.env))
        trainer.report_started()
        bad = None
        for index in range(450):
            trainer.debug(f"line {index}", index=index)
            if index == 300:  # the SDK checks its own arguments; a raw spool line does not
                bad = trainer.spool.append("progress", {"epoch": -1, "metrics": {}})
        assert trainer.flush(timeout=60)
        assert 3 <= trainer.sender.sent_batches < 450
        trainer.report_progress(1, 1, {"loss": float("nan"), "acc": 1.0})
        trainer.report_completed(best_epoch=1, best_metric_name="acc", best_metric_value=1.0)
        assert trainer.close(timeout=30)

        folder = spool_of(attempt)
        (entry,) = [
            json.loads(line) for line in (folder / "reports.rejected").read_text().splitlines()
        ]
        assert entry["status_code"] == 422
        assert [r["sequence"] for r in entry["reports"]] == [bad]
        everything = [r["sequence"] for r in spooled(attempt)]
        assert applied_sequences(world, attempt) == [s for s in everything if s != bad]
        total = world.get(f"/api/v1/training/jobs/{job_id}/logs", limit=1)["total"]
        assert total == 451  # 450 + the warning about the NaN
        (point,) = world.get(f"/api/v1/training/jobs/{job_id}/metrics")["points"]
        assert point["values"] == {"loss": None, "acc": 1.0}
        assert world.job(job_id)["status"] == "completed"
        world.close()


def test_a_job_changing_its_dataset_changes_nothing_another_job_receives(
    settings: Settings, tmp_path: Path
) -> None:
    """Issue 12, item 5: the cache was shared across organizations through hard links and
    checked by size only, so one organization's trainer changed another's training images.
    Now each job gets verified private copies, each organization its own cache, and a blob
    changed in the cache is noticed by its SHA-256 and fetched again."""
    with restartable(settings) as server:
        ours, theirs = World(server), World(server)  # two organizations
        # The same images (same seed) in both: the same SHA-256s.
        our_set = ours.classification_version(tmp_path / "a", {"train": 4, "val": 2}, seed=3)
        their_set = theirs.classification_version(tmp_path / "b", {"train": 4, "val": 2}, seed=3)

        def download(world: World, dataset_id: str) -> tuple[Attempt, Any]:
            world.create_job(dataset_id, basic={"epochs": 1, **FAST})
            attempt = world.claim()
            trainer = Trainer(TrainerConfig.from_env(attempt.env))
            try:
                return attempt, trainer.download_dataset()
            finally:
                trainer.close(timeout=10)

        hostile_attempt, hostile = download(ours, our_set)
        assert hostile.root.is_relative_to(hostile_attempt.cwd)  # the attempt's own folder
        # The hostile trainer rewrites every file it was given, and every blob of its cache.
        for item in hostile.items():
            path = hostile.image_path(item)
            path.write_bytes(b"poisoned " + path.read_bytes())
        cache = Path(hostile_attempt.env["LENSFORGE_DATASET_CACHE_DIR"])
        blobs = [p for p in (cache / "images").rglob("*") if p.is_file()]
        assert len(blobs) == 6
        for blob in blobs:
            blob.write_bytes(b"poisoned")

        victim_attempt, victim = download(theirs, their_set)
        _, again = download(ours, our_set)  # the same organization, next job

        assert victim_attempt.env["LENSFORGE_DATASET_CACHE_DIR"] != str(cache)
        for received in (victim, again):
            assert len(received.items()) == 6
            for item in received.items():
                data = received.image_path(item).read_bytes()
                assert hashlib.sha256(data).hexdigest() == item["sha256"]
        for blob in blobs:  # the poisoned blobs were dropped and fetched again
            assert hashlib.sha256(blob.read_bytes()).hexdigest() == blob.name
        ours.close()
        theirs.close()
