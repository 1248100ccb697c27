"""`trainer.download_weights()` against a live server: the job's uploaded pretrained weights
(a model artifact), verified by SHA-256 and cached in the work dir; None for a job without."""

from __future__ import annotations

import hashlib
from pathlib import Path

from lensforge.config import Settings
from lensforge.sdk import Trainer, TrainerConfig
from tests.datasets.importing import upload
from tests.sdk.live import FAST, World, restartable

WEIGHTS = b"pretend pretrained weights " * 4000


def test_the_trainer_downloads_its_uploaded_weights_verified_and_cached(
    settings: Settings, tmp_path: Path
) -> None:
    with restartable(settings) as server:
        world = World(server)
        dataset_id = world.classification_version(tmp_path / "d", {"train": 4, "val": 2})
        source = tmp_path / "start.pt"
        source.write_bytes(WEIGHTS)
        upload_id = upload(world.http, world.account, world.project_id, source)  # type: ignore[arg-type]
        artifact = world.http.post(
            "/api/v1/models/artifacts",
            json={"project_id": world.project_id, "upload_id": upload_id, "name": "start"},
            headers=world.account.headers,
        )
        assert artifact.status_code == 201, artifact.text
        created = world.http.post(
            "/api/v1/training/jobs",
            json={
                "project_id": world.project_id,
                "dataset_id": dataset_id,
                "trainer": "reference",
                "model": "linear",
                "config": {"basic": {"epochs": 1, **FAST}},
                "weights_id": artifact.json()["id"],
            },
            headers=world.account.headers,
        )
        assert created.status_code == 201, created.text
        attempt = world.claim()
        trainer = Trainer(TrainerConfig.from_env(attempt.env))
        try:
            path = trainer.download_weights()
            assert path is not None
            assert path.name == "start.pt"
            assert path.read_bytes() == WEIGHTS
            assert trainer.spec()["weights"]["sha256"] == hashlib.sha256(WEIGHTS).hexdigest()
            # Cached: a second call finds the verified file and fetches nothing again.
            before = path.stat().st_mtime_ns
            assert trainer.download_weights() == path
            assert path.stat().st_mtime_ns == before
            # A damaged cached copy is not trusted: it is fetched again.
            path.write_bytes(b"torn")
            assert trainer.download_weights() == path
            assert path.read_bytes() == WEIGHTS
        finally:
            trainer.close(timeout=10)

        world.create_job(dataset_id, basic={"epochs": 1, **FAST})
        plain = world.claim()
        without = Trainer(TrainerConfig.from_env(plain.env, spool_dir=tmp_path / "spool2"))
        try:
            assert without.download_weights() is None
        finally:
            without.close(timeout=10)
        world.close()
