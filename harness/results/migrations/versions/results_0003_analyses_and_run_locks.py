"""Run-level analyses, and the process running each run (a second one refuses to).

A store made before migrations may have either table already (its code created them on
open): those are kept as they are.

Revision ID: results_0003
"""

import sqlalchemy as sa
from alembic import op

from harness.results.db import KEY

revision = "results_0003"
down_revision = "results_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    there = sa.inspect(op.get_bind())
    if not there.has_table("analyses"):
        op.create_table(
            "analyses",
            sa.Column("run_id", KEY, sa.ForeignKey("runs.run_id"), primary_key=True),
            sa.Column("analysis_id", KEY, primary_key=True),
            sa.Column("record", sa.Text, nullable=False),
        )
    if not there.has_table("run_locks"):
        op.create_table(
            "run_locks",
            sa.Column("run_id", KEY, primary_key=True),
            sa.Column("owner", sa.Text, nullable=False),
            sa.Column("acquired_at", sa.Text, nullable=False),
        )


def downgrade() -> None:
    op.drop_table("run_locks")
    op.drop_table("analyses")
