"""schemathesis over every operation of the API: no generated request may make the server answer
500, and the answers must match the OpenAPI document (status codes, content types, schemas).

The app runs in-process (ASGI) on SQLite, as the admin of a seeded organization, so requests get
past authentication into the routes. Bounded and derandomized so CI stays fast and repeatable:
the knobs are below. To explore harder locally:
`LENSFORGE_FUZZ_EXAMPLES=200 .venv/bin/pytest tests/test_api_fuzz.py -n 0`.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.config import SchemathesisConfig
from schemathesis.generation.modes import GenerationMode

from lensforge.app import create_app
from lensforge.config import Settings
from tests.fixtures.app import sign_up

REFERENCE = Path(__file__).resolve().parents[1] / "docs" / "api" / "openapi.json"

# -- knobs ----------------------------------------------------------------------------------------
# Examples per operation and generation mode (valid, then invalid data). 90 operations x 6 x 2
# took 54 s with `-n 2` on two quiet cores (8 took 3 min on a machine shared by eight suites).
MAX_EXAMPLES = int(os.environ.get("LENSFORGE_FUZZ_EXAMPLES", "6"))
# Operations left out, with the reason (METHOD path, exactly as in the OpenAPI document).
EXCLUDED_OPERATIONS: dict[str, str] = {}
# Checks left out everywhere, with the reason (names from `schemathesis.checks`).
EXCLUDED_CHECKS: dict[str, str] = {}
# Schema-valid requests may still break rules no schema can state (password strength, known
# scope names, split ratios summing to 1, exactly one of two fields, a name already taken): those
# answers count as accepting the data, as long as they are documented 4xx with an error code.
POSITIVE_DATA_STATUSES = ["2XX", "401", "403", "404", "409", "410", "422"]
# Unknown query parameters are ignored, as HTTP APIs commonly do (clients add cache busters,
# older clients send parameters a newer server dropped), so requests adding some are not
# "schema-violating" here.
ALLOW_EXTRA_PARAMETERS = False
# -------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fuzz_client(
    sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestClient]:
    root = tmp_path_factory.mktemp("fuzz")
    database = root / "lensforge.db"
    shutil.copyfile(sqlite_template, database)
    app_settings = Settings.model_validate(
        {
            "env": "test",
            "data_dir": str(root / "data"),
            "database": {"url": f"sqlite:///{database}"},
            "security": {"secret_key": "f" * 48},
            "storage": {"backend": "local", "local": {"root": str(root / "objects")}},
            "server": {"public_url": "http://testserver"},
        }
    )
    with TestClient(create_app(app_settings, run_migrations=False)) as client:
        yield client


@pytest.fixture(scope="module")
def admin_headers(fuzz_client: TestClient) -> dict[str, str]:
    admin = sign_up(fuzz_client, organization_name="Fuzzed")
    return admin.headers


@pytest.fixture(scope="module")
def api_schema(fuzz_client: TestClient) -> Any:
    config = SchemathesisConfig.from_dict(
        {
            "checks": {"positive_data_acceptance": {"expected-statuses": POSITIVE_DATA_STATUSES}},
            "generation": {"allow-extra-parameters": ALLOW_EXTRA_PARAMETERS},
        }
    )
    return schemathesis.openapi.from_asgi("/api/v1/openapi.json", fuzz_client.app, config=config)


def _operation_labels() -> list[str]:
    """Every operation of the committed reference (tests/test_openapi.py keeps it current)."""
    document = json.loads(REFERENCE.read_text())
    return [
        f"{method.upper()} {path}"
        for path, item in document["paths"].items()
        for method in item
        if method in ("get", "put", "post", "delete", "patch")
    ]


@pytest.mark.parametrize("label", _operation_labels())
def test_no_operation_fails_or_breaks_its_contract(
    label: str, api_schema: Any, admin_headers: dict[str, str]
) -> None:
    if label in EXCLUDED_OPERATIONS:
        pytest.skip(EXCLUDED_OPERATIONS[label])
    operation = api_schema.find_operation_by_label(label)
    assert operation is not None, f"{label} is in docs/api/openapi.json but not served"
    excluded = [getattr(schemathesis.checks, name) for name in EXCLUDED_CHECKS]
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

        @settings(
            max_examples=MAX_EXAMPLES,
            derandomize=True,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy(generation_mode=mode))
        def check(case: Any) -> None:
            # A generated Authorization header (the scheme is HTTP bearer) is replaced by the
            # admin's, so that requests reach the routes; a case that leaves it out on purpose
            # (negative data, auth checks) stays without.
            if "Authorization" in (case.headers or {}):
                case.headers = {**case.headers, **admin_headers}
            case.call_and_validate(excluded_checks=excluded)

        try:
            check()
        except Unsatisfiable:
            # Nothing of this operation can be made invalid (e.g. no parameters, no body).
            assert mode is GenerationMode.NEGATIVE, f"{label}: no valid request can be generated"
