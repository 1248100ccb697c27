"""Fixtures of the orchestration tests (helpers live in `helpers.py`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from lensforge.config import Settings
from lensforge.kit.db import create_db_engine, create_session_factory
from tests.orchestration.helpers import Jobs, worker_settings


@pytest.fixture
def sessions(database_url: str) -> Iterator[sessionmaker[Session]]:
    engine = create_db_engine(database_url)
    yield create_session_factory(engine)
    engine.dispose()


@pytest.fixture
def wsettings(settings: Settings, tmp_path: Path) -> Settings:
    return worker_settings(settings, tmp_path)


@pytest.fixture
def jobs(sessions: sessionmaker[Session]) -> Jobs:
    return Jobs(sessions)
