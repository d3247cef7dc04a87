"""Fixtures for every test folder: a PostgreSQL server, fresh databases on it, and a store
URL on each backend (see tests/pg.py)."""

from tests.pg import pg_server, pg_url, store_url

__all__ = ["pg_server", "pg_url", "store_url"]
