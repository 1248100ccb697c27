"""Job artifacts (plots and tables a trainer reports, shown on the job page): stored only after
their content was checked, listed on the job, served back byte for byte to the job's readers."""

from __future__ import annotations

import io
import json
from pathlib import Path

from fastapi.testclient import TestClient
from PIL import Image

from lensforge.jobs.artifacts import MAX_ARTIFACTS_PER_JOB, MAX_TABLE_BYTES
from tests.fixtures.app import sign_up
from tests.jobs.helpers import Trainer, claim, create_job


def _image(fmt: str, size: tuple[int, int] = (40, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(out, format=fmt)
    return out.getvalue()


def _put(trainer: Trainer, name: str, body: bytes, content_type: str, kind: str, **query: str):  # type: ignore[no-untyped-def]
    return trainer.client.put(
        trainer.url(f"/artifacts/{name}"),
        content=body,
        params={"kind": kind, **query},
        headers={**trainer.headers, "Content-Type": content_type},
    )


TABLE = {
    "columns": ["class", "precision", "recall"],
    "rows": [["cat", 0.9, 0.8], ["dog", None, 0.5]],
}


def test_plots_and_tables_are_stored_listed_and_served(client: TestClient, tmp_path: Path) -> None:
    user = sign_up(client)
    setup = create_job(client, user, tmp_path / "data")
    trainer = claim(client, setup.job_id)
    png, jpeg = _image("PNG"), _image("JPEG")
    table = json.dumps(TABLE).encode()

    stored = _put(trainer, "PR_curve.png", png, "image/png", "plot", title="PR curve")
    assert stored.status_code == 200, stored.text
    assert (stored.json()["name"], stored.json()["size"]) == ("PR_curve.png", len(png))
    assert _put(trainer, "val_batch0_pred.jpg", jpeg, "image/jpeg", "plot").status_code == 200
    assert _put(trainer, "per_class.json", table, "application/json", "table").status_code == 200
    # The same name again replaces it (a re-sent upload, a newer evaluation).
    png2 = _image("PNG", (50, 50))
    assert _put(trainer, "PR_curve.png", png2, "image/png", "plot").status_code == 200

    base = f"/api/v1/training/jobs/{setup.job_id}/artifacts"
    listed = client.get(base, headers=user.headers)
    assert listed.status_code == 200, listed.text
    rows = listed.json()
    assert [(a["name"], a["kind"]) for a in rows] == [
        ("per_class.json", "table"),
        ("PR_curve.png", "plot"),
        ("val_batch0_pred.jpg", "plot"),
    ]
    assert rows[1]["title"] == "PR_curve.png"  # the replacement came without a title
    assert rows[1]["size_bytes"] == len(png2)
    image = client.get(rows[1]["url"], headers=user.headers)
    assert image.status_code == 200
    assert (image.headers["content-type"], image.content) == ("image/png", png2)
    assert image.headers["x-content-type-options"] == "nosniff"
    served = client.get(rows[0]["url"], headers=user.headers)
    assert served.headers["content-type"] == "application/json"
    assert served.json() == TABLE
    assert client.get(f"{base}/nothing.png", headers=user.headers).json()["error"]["code"] == (
        "artifact_not_found"
    )
    # Another organization sees nothing of it.
    stranger = sign_up(client)
    assert client.get(base, headers=stranger.headers).status_code == 404
    assert client.get(rows[0]["url"], headers=stranger.headers).status_code == 404


def test_artifacts_are_refused_with_a_specific_reason(client: TestClient, tmp_path: Path) -> None:
    user = sign_up(client)
    setup = create_job(client, user, tmp_path / "data")
    trainer = claim(client, setup.job_id)
    png = _image("PNG")

    def refused(response, status: int, code: str, words: str) -> None:  # type: ignore[no-untyped-def]
        assert response.status_code == status, response.text
        error = response.json()["error"]
        assert error["code"] == code, error
        assert words in error["message"], error

    refused(
        _put(trainer, "a.png", _image("JPEG"), "image/png", "plot"),
        422,
        "invalid_artifact",
        "sent as image/png but is a JPEG image",
    )
    refused(
        _put(trainer, "a.png", png[: len(png) // 2], "image/png", "plot"),
        422,
        "invalid_artifact",
        "not a readable PNG image",
    )
    refused(
        _put(trainer, "a.png", b"<svg onload=alert(1)>", "image/svg+xml", "plot"),
        422,
        "invalid_artifact",
        "image/png or image/jpeg",
    )
    refused(
        _put(
            trainer, "t.json", b'{"columns": ["a"], "rows": [[1, 2]]}', "application/json", "table"
        ),
        422,
        "invalid_artifact",
        "row 0 must be a list of 1 cells",
    )
    refused(
        _put(
            trainer, "t.json", b'{"columns": ["a"], "rows": [[NaN]]}', "application/json", "table"
        ),
        422,
        "invalid_artifact",
        "not valid JSON",
    )
    refused(
        _put(trainer, "t.json", b"x" * (MAX_TABLE_BYTES + 1), "application/json", "table"),
        413,
        "artifact_too_large",
        "a table may have at most",
    )
    assert _put(trainer, "..hidden", png, "image/png", "plot").status_code == 422
    assert _put(trainer, "a.png", png, "image/png", "video").status_code == 422
    # Nothing refused was kept.
    listed = client.get(f"/api/v1/training/jobs/{setup.job_id}/artifacts", headers=user.headers)
    assert listed.json() == []


def test_a_job_holds_a_bounded_number_of_artifacts(client: TestClient, tmp_path: Path) -> None:
    user = sign_up(client)
    setup = create_job(client, user, tmp_path / "data")
    trainer = claim(client, setup.job_id)
    table = json.dumps(TABLE).encode()
    for index in range(MAX_ARTIFACTS_PER_JOB):
        assert (
            _put(trainer, f"t{index}.json", table, "application/json", "table").status_code == 200
        )
    over = _put(trainer, "one-more.json", table, "application/json", "table")
    assert over.status_code == 409
    assert over.json()["error"]["code"] == "too_many_artifacts"
    # Replacing one is still allowed.
    assert _put(trainer, "t0.json", table, "application/json", "table").status_code == 200


def test_only_the_live_attempts_token_may_report_artifacts(
    client: TestClient, tmp_path: Path
) -> None:
    user = sign_up(client)
    setup = create_job(client, user, tmp_path / "data")
    trainer = claim(client, setup.job_id)
    anonymous = client.put(
        trainer.url("/artifacts/a.png"),
        content=_image("PNG"),
        params={"kind": "plot"},
        headers={"Content-Type": "image/png"},
    )
    assert anonymous.status_code == 401
    as_user = client.put(
        trainer.url("/artifacts/a.png"),
        content=_image("PNG"),
        params={"kind": "plot"},
        headers={**user.headers, "Content-Type": "image/png"},
    )
    assert as_user.status_code == 401
