"""Finished runs by what their results were made from (see harness.replay).

Revision ID: cache_0003
"""

import sqlalchemy as sa
from alembic import op

from harness.results.db import KEY

revision = "cache_0003"
down_revision = "cache_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("replays", sa.Column("key", KEY, primary_key=True), sa.Column("run", sa.Text))


def downgrade() -> None:
    op.drop_table("replays")
