"""model artifacts: uploaded pretrained weights, and the training job's `weights_artifact_id`

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import lensforge.kit.types

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "model_artifacts",
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("object_key", sa.String(length=1024), nullable=False),
        sa.Column("created_by_id", sa.Uuid(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", lensforge.kit.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name=op.f("fk_model_artifacts_created_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_model_artifacts_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_model_artifacts_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_model_artifacts")),
        sa.UniqueConstraint("project_id", "name", name="uq_model_artifacts_name"),
    )
    with op.batch_alter_table("model_artifacts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_model_artifacts_organization_id"), ["organization_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_model_artifacts_project_id"), ["project_id"], unique=False
        )

    with op.batch_alter_table("training_jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("weights_artifact_id", sa.Uuid(), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_training_jobs_weights_artifact_id"),
            ["weights_artifact_id"],
            unique=False,
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_training_jobs_weights_artifact_id_model_artifacts"),
            "model_artifacts",
            ["weights_artifact_id"],
            ["id"],
            ondelete="RESTRICT",
        )


def downgrade() -> None:
    with op.batch_alter_table("training_jobs", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_training_jobs_weights_artifact_id_model_artifacts"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_training_jobs_weights_artifact_id"))
        batch_op.drop_column("weights_artifact_id")

    with op.batch_alter_table("model_artifacts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_model_artifacts_project_id"))
        batch_op.drop_index(batch_op.f("ix_model_artifacts_organization_id"))

    op.drop_table("model_artifacts")
