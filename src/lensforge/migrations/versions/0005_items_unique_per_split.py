"""dataset items: file names are unique per split, not per version

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("dataset_items", schema=None) as batch_op:
        batch_op.drop_constraint("uq_dataset_items_version_file", type_="unique")
        batch_op.create_unique_constraint(
            "uq_dataset_items_version_split_file", ["version_id", "split", "file_name"]
        )


def downgrade() -> None:
    with op.batch_alter_table("dataset_items", schema=None) as batch_op:
        batch_op.drop_constraint("uq_dataset_items_version_split_file", type_="unique")
        batch_op.create_unique_constraint(
            "uq_dataset_items_version_file", ["version_id", "file_name"]
        )
