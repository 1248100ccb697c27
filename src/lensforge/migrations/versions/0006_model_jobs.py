"""model jobs: export and inference jobs (kind, source) and their records

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import lensforge.kit.types

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "inference_runs",
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("source_job_id", sa.Uuid(), nullable=False),
        sa.Column("job_id", sa.Uuid(), nullable=False),
        sa.Column("source", sa.JSON(), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("input_origin", sa.String(length=16), nullable=False),
        sa.Column("images", sa.JSON(), nullable=False),
        sa.Column("image_count", sa.Integer(), nullable=False),
        sa.Column("results_key", sa.String(length=1024), nullable=True),
        sa.Column("result_count", sa.Integer(), nullable=True),
        sa.Column("created_by_id", sa.Uuid(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", lensforge.kit.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name=op.f("fk_inference_runs_created_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["training_jobs.id"],
            name=op.f("fk_inference_runs_job_id_training_jobs"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_inference_runs_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_inference_runs_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["source_job_id"],
            ["training_jobs.id"],
            name=op.f("fk_inference_runs_source_job_id_training_jobs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inference_runs")),
        sa.UniqueConstraint("job_id", name=op.f("uq_inference_runs_job_id")),
    )
    with op.batch_alter_table("inference_runs", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_inference_runs_organization_id"), ["organization_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_inference_runs_project_id"), ["project_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_inference_runs_source_job_id"), ["source_job_id"], unique=False
        )

    op.create_table(
        "model_exports",
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("source_job_id", sa.Uuid(), nullable=False),
        sa.Column("job_id", sa.Uuid(), nullable=False),
        sa.Column("checkpoint", sa.String(length=8), nullable=False),
        sa.Column("format", sa.String(length=32), nullable=False),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("artifact_key", sa.String(length=1024), nullable=True),
        sa.Column("size_bytes", sa.BigInteger(), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("verification", sa.JSON(), nullable=True),
        sa.Column("created_by_id", sa.Uuid(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", lensforge.kit.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name=op.f("fk_model_exports_created_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["training_jobs.id"],
            name=op.f("fk_model_exports_job_id_training_jobs"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_model_exports_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_model_exports_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["source_job_id"],
            ["training_jobs.id"],
            name=op.f("fk_model_exports_source_job_id_training_jobs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_model_exports")),
        sa.UniqueConstraint("job_id", name=op.f("uq_model_exports_job_id")),
    )
    with op.batch_alter_table("model_exports", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_model_exports_organization_id"), ["organization_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_model_exports_project_id"), ["project_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_model_exports_source_job_id"), ["source_job_id"], unique=False
        )

    with op.batch_alter_table("training_jobs", schema=None) as batch_op:
        # Every existing job is a training job.
        batch_op.add_column(
            sa.Column("kind", sa.String(length=16), nullable=False, server_default="training")
        )
        batch_op.add_column(sa.Column("source_job_id", sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column("source", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("inputs", sa.JSON(), nullable=True))
        batch_op.create_index(batch_op.f("ix_training_jobs_kind"), ["kind"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_training_jobs_source_job_id"), ["source_job_id"], unique=False
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_training_jobs_source_job_id_training_jobs"),
            "training_jobs",
            ["source_job_id"],
            ["id"],
            ondelete="RESTRICT",
        )
        batch_op.create_check_constraint(
            op.f("ck_training_jobs_kind_known"), "kind IN ('training', 'export', 'inference')"
        )


def downgrade() -> None:
    with op.batch_alter_table("training_jobs", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_training_jobs_kind_known"), type_="check")
        batch_op.drop_constraint(
            batch_op.f("fk_training_jobs_source_job_id_training_jobs"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_training_jobs_source_job_id"))
        batch_op.drop_index(batch_op.f("ix_training_jobs_kind"))
        batch_op.drop_column("inputs")
        batch_op.drop_column("source")
        batch_op.drop_column("source_job_id")
        batch_op.drop_column("kind")

    with op.batch_alter_table("model_exports", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_model_exports_source_job_id"))
        batch_op.drop_index(batch_op.f("ix_model_exports_project_id"))
        batch_op.drop_index(batch_op.f("ix_model_exports_organization_id"))

    op.drop_table("model_exports")
    with op.batch_alter_table("inference_runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_inference_runs_source_job_id"))
        batch_op.drop_index(batch_op.f("ix_inference_runs_project_id"))
        batch_op.drop_index(batch_op.f("ix_inference_runs_organization_id"))

    op.drop_table("inference_runs")
