"""Alembic environment: runs against the engine handed over by `lensforge.kit.migrate`."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine

import lensforge.models  # noqa: F401  (registers every table)
from lensforge.models.base import Base

engine = context.config.attributes.get("engine")
if not isinstance(engine, Engine):
    raise RuntimeError("run migrations through `lensforge db upgrade`, which provides the engine")

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        # SQLite cannot ALTER most things; batch mode rebuilds tables so one revision fits both.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
