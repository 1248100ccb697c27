"""dataset items: a natural sort key, so browsing lists raccoon-2 before raccoon-10

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07
"""

from __future__ import annotations

import re

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_NUMBER = re.compile(r"\d+")
_BATCH = 1000


def _natural_key(name: str) -> str:
    # A frozen copy of lensforge.datasets.naming.natural_key as of this revision.
    return _NUMBER.sub(lambda match: match.group().zfill(12), name.lower())[:2048]


def upgrade() -> None:
    with op.batch_alter_table("dataset_items", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("sort_key", sa.String(length=2048), nullable=False, server_default="")
        )
    items = sa.table(
        "dataset_items",
        sa.column("id", sa.Uuid()),
        sa.column("file_name", sa.String()),
        sa.column("sort_key", sa.String()),
    )
    connection = op.get_bind()
    rows = connection.execute(sa.select(items.c.id, items.c.file_name)).all()
    for start in range(0, len(rows), _BATCH):
        connection.execute(
            items.update()
            .where(items.c.id == sa.bindparam("item_id"))
            .values(sort_key=sa.bindparam("key")),
            [
                {"item_id": row.id, "key": _natural_key(row.file_name)}
                for row in rows[start : start + _BATCH]
            ],
        )
    with op.batch_alter_table("dataset_items", schema=None) as batch_op:
        batch_op.alter_column("sort_key", server_default=None)
        batch_op.create_index(
            "ix_dataset_items_version_sort_key", ["version_id", "sort_key"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("dataset_items", schema=None) as batch_op:
        batch_op.drop_index("ix_dataset_items_version_sort_key")
        batch_op.drop_column("sort_key")
