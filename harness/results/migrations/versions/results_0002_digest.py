"""Each result's digest (identity, verdict, score values), which comparisons read instead
of the whole record; results stored before it keep NULL.

Revision ID: results_0002
"""

import sqlalchemy as sa
from alembic import op

revision = "results_0002"
down_revision = "results_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    digest = sa.Column("digest", sa.Text)
    if op.get_bind().dialect.name != "sqlite":  # large records are kept apart (TOAST)
        op.add_column("results", digest)
        return
    # Before the large record, so reading a digest never walks the record's overflow
    # pages: SQLite adds a column last, so the table is copied (once).
    with op.batch_alter_table("results", recreate="always") as batch:
        batch.add_column(digest, insert_before="record")


def downgrade() -> None:
    with op.batch_alter_table("results") as batch:
        batch.drop_column("digest")
