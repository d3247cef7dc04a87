"""The first results store: runs and their case results.

Revision ID: results_0001
"""

import sqlalchemy as sa
from alembic import op

from harness.results.db import KEY

revision = "results_0001"
down_revision = None
branch_labels = ("results",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("run_id", KEY, primary_key=True),
        sa.Column("suite_hash", KEY, nullable=False),
        sa.Column("created_at", KEY, nullable=False),
        sa.Column("record", sa.Text, nullable=False),
    )
    op.create_table(
        "results",
        sa.Column("run_id", KEY, sa.ForeignKey("runs.run_id"), primary_key=True),
        sa.Column("case_id", KEY, primary_key=True),
        sa.Column("errored", sa.Integer, nullable=False),
        sa.Column("record", sa.Text, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("results")
    op.drop_table("runs")
