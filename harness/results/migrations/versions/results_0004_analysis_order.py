"""The order a run's analyses were first stored in, as a column (SQLite's rowid was the only
record of it, and PostgreSQL has none).

Revision ID: results_0004
"""

import sqlalchemy as sa
from alembic import op

revision = "results_0004"
down_revision = "results_0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("analyses", sa.Column("seq", sa.Integer))
    if op.get_bind().dialect.name == "sqlite":
        op.execute("UPDATE analyses SET seq = rowid")


def downgrade() -> None:
    with op.batch_alter_table("analyses") as batch:
        batch.drop_column("seq")
