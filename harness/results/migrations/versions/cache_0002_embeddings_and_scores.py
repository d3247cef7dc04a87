"""Vectors by embedder and text, and stored scores (see harness.runner.memo).

A cache made before migrations may have either table already: those are kept.

Revision ID: cache_0002
"""

import sqlalchemy as sa
from alembic import op

from harness.results.db import KEY

revision = "cache_0002"
down_revision = "cache_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    there = sa.inspect(op.get_bind())
    for table, value in (("embeddings", "vector"), ("scores", "score")):
        if not there.has_table(table):
            op.create_table(
                table, sa.Column("key", KEY, primary_key=True), sa.Column(value, sa.Text)
            )


def downgrade() -> None:
    op.drop_table("scores")
    op.drop_table("embeddings")
