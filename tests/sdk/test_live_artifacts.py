"""`trainer.report_artifact()` / `report_table()` against a live server: a plot from a file or
from bytes, a table from columns and rows (NaN sent as null), and a refusal raised at once as
`ServerError` naming the reason (nothing to find later in a spool)."""

from __future__ import annotations

import io
import math
from pathlib import Path

import pytest
from PIL import Image

from lensforge.config import Settings
from lensforge.sdk import ServerError, Trainer, TrainerConfig
from tests.sdk.live import FAST, World, restartable


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (20, 10), "navy").save(out, format="PNG")
    return out.getvalue()


def test_the_trainer_reports_plots_and_tables(settings: Settings, tmp_path: Path) -> None:
    with restartable(settings) as server:
        world = World(server)
        dataset_id = world.classification_version(tmp_path / "d", {"train": 4, "val": 2})
        job_id = world.create_job(dataset_id, basic={"epochs": 1, **FAST})
        attempt = world.claim()
        trainer = Trainer(TrainerConfig.from_env(attempt.env))
        try:
            plot = tmp_path / "PR_curve.png"
            plot.write_bytes(_png())
            sent = trainer.report_artifact("PR_curve.png", plot, title="PR curve")
            assert (sent["kind"], sent["size"]) == ("plot", plot.stat().st_size)
            trainer.report_artifact("sample.jpg", _jpeg(), title="Samples")
            trainer.report_table(
                "per_class.json", ["class", "AP"], [["left", 0.5], ["right", math.nan]]
            )
            with pytest.raises(ServerError, match="not a readable PNG image"):
                trainer.report_artifact("fake.png", b"not an image at all")
        finally:
            trainer.close(timeout=10)
        listed = world.get(f"/api/v1/training/jobs/{job_id}/artifacts")
        assert {(a["name"], a["kind"], a["title"]) for a in listed} == {
            ("PR_curve.png", "plot", "PR curve"),
            ("sample.jpg", "plot", "Samples"),
            ("per_class.json", "table", "per_class.json"),
        }
        table = world.get(f"/api/v1/training/jobs/{job_id}/artifacts/per_class.json")
        assert table == {"columns": ["class", "AP"], "rows": [["left", 0.5], ["right", None]]}
        world.close()


def _jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (20, 10), "olive").save(out, format="JPEG")
    return out.getvalue()
