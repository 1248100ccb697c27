"""Server errors are logged briefly, off the event loop, and never with a secret in them."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator

import pytest
import structlog
from fastapi.testclient import TestClient

from lensforge.app import create_app
from lensforge.config import Settings
from lensforge.log_redaction import REDACTED, redact_text
from lensforge.logging import configure_logging, stop_logging

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1c2VyLTEyMyJ9.c2lnbmF0dXJlLW9mLWEtdG9rZW4"
API_KEY = "lfk_0123456789ab_S3cr3tPartOfAnApiKey"
JOB_TOKEN = "lfj_Zm9vYmFyYmF6cXV4LXNlY3JldC1qb2ItdG9rZW4"
REFRESH = "plain-random-refresh-token-value-41"
PASSWORD = "hunter2-correct-horse"
SECRETS = (JWT, API_KEY, JOB_TOKEN, REFRESH, PASSWORD)


@pytest.fixture(params=[False, True], ids=["console", "json"])
def json_logs(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


@pytest.fixture
def log_stream(json_logs: bool) -> Iterator[io.StringIO]:
    stream = io.StringIO()
    configure_logging("INFO", json=json_logs, stream=stream)
    yield stream
    stop_logging()


def _failing_app(settings: Settings) -> TestClient:
    app = create_app(settings, run_migrations=False)

    @app.get("/boom")
    def boom() -> None:
        # Locals a rich traceback would print in full.
        api_key = API_KEY
        job_token = JOB_TOKEN
        refresh_token = REFRESH
        raise RuntimeError(
            f"upstream refused Authorization: Bearer {JWT} ({api_key}, {job_token})"
            f" token={refresh_token} password={PASSWORD}"
        )

    return TestClient(app, raise_server_exceptions=False)


def test_an_unhandled_error_logs_a_plain_traceback_without_locals_or_secrets(
    settings: Settings, json_logs: bool, log_stream: io.StringIO
) -> None:
    with _failing_app(settings) as client:
        # The lifespan configured logging to stderr; send it to the captured stream instead.
        configure_logging("INFO", json=json_logs, stream=log_stream)
        response = client.get("/boom", headers={"Authorization": f"Bearer {JWT}"})
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "internal_error"
    stop_logging()
    text = log_stream.getvalue()
    assert "unhandled error" in text
    assert "RuntimeError" in text
    assert "Traceback" in text
    for secret in SECRETS:
        assert secret not in text
    # No local-variable dump (rich prints `api_key = '...'` tables per frame).
    assert "api_key =" not in text
    assert "job_token =" not in text
    # One error stays a few kilobytes, not megabytes.
    assert len(text) < 20_000


def test_secret_named_fields_are_redacted_in_every_format(log_stream: io.StringIO) -> None:
    log = structlog.get_logger("lensforge.test")
    log.info(
        "signing in",
        password=PASSWORD,
        refresh_token=REFRESH,
        headers={"Authorization": f"Bearer {JWT}", "Accept": "application/json"},
        url=f"/api/v1/storage/objects/a?signature=deadbeef&token={REFRESH}",
    )
    log.warning(f"a message quoting {API_KEY} and {JOB_TOKEN}")
    stop_logging()
    text = log_stream.getvalue()
    for secret in (*SECRETS, "deadbeef"):
        assert secret not in text
    assert REDACTED in text
    assert "application/json" in text  # harmless fields stay


def test_a_blocked_log_sink_does_not_block_the_caller() -> None:
    release = threading.Event()

    class StuckStream(io.StringIO):
        def write(self, text: str) -> int:
            release.wait()  # a terminal or pipe nobody reads
            return super().write(text)

    configure_logging("INFO", stream=StuckStream())
    logged = threading.Event()

    def log_an_error() -> None:
        structlog.get_logger("lensforge.test").error("server error", code="x")
        logged.set()

    caller = threading.Thread(target=log_an_error)
    caller.start()
    try:
        # A synchronous handler would wait here until the sink is released: forever.
        assert logged.wait(timeout=30)
    finally:
        release.set()
        caller.join()
        stop_logging()


def test_json_lines_stay_valid_json_after_redaction() -> None:
    stream = io.StringIO()
    configure_logging("INFO", json=True, stream=stream)
    structlog.get_logger("lensforge.test").info("login", password=PASSWORD, email="a@example.com")
    stop_logging()
    line = json.loads(stream.getvalue().splitlines()[-1])
    assert line["password"] == REDACTED
    assert line["email"] == "a@example.com"


def test_redact_text_covers_the_credential_shapes_we_issue() -> None:
    text = redact_text(
        f"Authorization: Bearer {JWT} key {API_KEY} job {JOB_TOKEN} "
        f"?expires=1&signature=abcdef&password={PASSWORD}"
    )
    for secret in (JWT, API_KEY, JOB_TOKEN, "abcdef", PASSWORD):
        assert secret not in text
    assert "expires=1" in text
