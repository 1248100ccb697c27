"""projects and datasets: `name_key`, unique per scope, so names are unique ignoring case in
every script on both databases (SQLite's lower() folds ASCII only)

Revision ID: 0014
Revises: 0011
Create Date: 2026-12-07
"""

from __future__ import annotations

import unicodedata

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0011"
branch_labels = None
depends_on = None

# (table, scope column, unique constraint)
_TABLES = (
    ("projects", "organization_id", "uq_projects_org_name_key"),
    ("datasets", "project_id", "uq_datasets_project_name_key"),
)


def _name_key(name: str) -> str:
    # A frozen copy of lensforge.kit.names.name_key: a migration must not change with the code.
    folded = unicodedata.normalize("NFKC", name).casefold()
    return unicodedata.normalize("NFKC", folded).strip()


def upgrade() -> None:
    connection = op.get_bind()
    for table, scope, constraint in _TABLES:
        op.add_column(table, sa.Column("name_key", sa.Text(), nullable=True))
        rows = sa.table(
            table, sa.column("id"), sa.column(scope), sa.column("name"), sa.column("name_key")
        )
        seen: set[tuple[object, str]] = set()
        for row_id, scope_id, name in connection.execute(
            sa.select(rows.c.id, rows.c[scope], rows.c.name).order_by(rows.c.id)
        ):
            key = _name_key(name)
            # Names that only differ by non-ASCII case were accepted before; keep both, the
            # later one suffixed, rather than fail the upgrade.
            while (scope_id, key) in seen:
                key = f"{key}#{row_id}"
            seen.add((scope_id, key))
            connection.execute(rows.update().where(rows.c.id == row_id).values(name_key=key))
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column("name_key", existing_type=sa.Text(), nullable=False)
            batch_op.create_unique_constraint(constraint, [scope, "name_key"])


def downgrade() -> None:
    for table, _scope, constraint in _TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(constraint, type_="unique")
            batch_op.drop_column("name_key")
