"""Alembic's entry point for the results store's and the response cache's migrations.

Run only by :mod:`harness.results.db`, on a connection it holds inside a transaction it
commits, so this file neither connects nor begins nor commits. The versions form two
branches, ``results`` (runs and case results) and ``cache`` (responses, embeddings, scores):
each database follows its own, and both may share one database. A new revision is a file in
``versions/`` whose ``down_revision`` is its branch's head, with the ``*_HEAD`` constant of
``harness/results/store.py`` or ``harness/runner/cache.py`` moved to it (a test checks).
"""

from alembic import context

context.configure(connection=context.config.attributes["connection"])
with context.begin_transaction():
    context.run_migrations()
