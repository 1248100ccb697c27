"""The committed API reference (docs/api/openapi.json) is the one the server serves."""

from __future__ import annotations

from pathlib import Path

from lensforge.cli.openapi import render_openapi

REFERENCE = Path(__file__).resolve().parents[1] / "docs" / "api" / "openapi.json"


def test_committed_openapi_reference_is_current() -> None:
    assert REFERENCE.read_text() == render_openapi(), (
        "docs/api/openapi.json is stale: run `lensforge openapi -o docs/api/openapi.json`"
    )
