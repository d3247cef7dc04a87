"""The first response cache: generations by request key.

Revision ID: cache_0001
"""

import sqlalchemy as sa
from alembic import op

from harness.results.db import KEY

revision = "cache_0001"
down_revision = None
branch_labels = ("cache",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "responses", sa.Column("key", KEY, primary_key=True), sa.Column("generation", sa.Text)
    )


def downgrade() -> None:
    op.drop_table("responses")
