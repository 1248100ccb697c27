"""Numbers a trainer reports are range-checked: values beyond what the database columns hold
(steps, epochs, sequences >= 2^63, or >= 2^31 where the column is 32-bit) are a 422 naming the
field, never a 500 from the database driver, and nothing of the batch is applied."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.fixtures.app import sign_up
from tests.jobs.helpers import claim, create_job

HUGE = 2**63
INT32_OVER = 2**31


@pytest.mark.parametrize(
    ("kind", "data"),
    [
        ("progress", {"epoch": HUGE}),
        ("progress", {"epoch": 1, "step": HUGE}),
        ("progress", {"epoch": 1, "step": INT32_OVER}),
        ("progress", {"epoch": 1, "total_epochs": HUGE}),
        ("completed", {"best_epoch": HUGE}),
    ],
)
def test_out_of_range_report_numbers_are_refused(
    client: TestClient, tmp_path: Path, kind: str, data: dict[str, int]
) -> None:
    setup = create_job(client, sign_up(client), tmp_path / "data")
    trainer = claim(client, setup.job_id)
    refused = trainer.send([trainer.make(0, "started"), trainer.make(1, kind, data)])
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"]["code"] == "invalid_report"
    # Nothing of the refused batch was applied.
    assert trainer.send([trainer.make(0, "started")]).json()["applied"] == [0]


def test_out_of_range_sequences_and_heartbeat_epochs_are_refused(
    client: TestClient, tmp_path: Path
) -> None:
    setup = create_job(client, sign_up(client), tmp_path / "data")
    trainer = claim(client, setup.job_id)
    refused = trainer.send([trainer.make(HUGE, "started")])
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"]["details"]["fields"][0]["field"] == "body.reports.0.sequence"
    heartbeat = trainer.post("/heartbeat", {"epoch": HUGE})
    assert heartbeat.status_code == 422, heartbeat.text
    assert trainer.send([trainer.make(2**63 - 1, "started")]).status_code == 200
