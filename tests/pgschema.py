"""A fresh PostgreSQL schema to run against, dropped afterwards: the tests' fixtures and the benchmarks share it."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator


@contextlib.contextmanager
def fresh_schema(server_url: str, prefix: str = "t") -> Iterator[str]:
    """A URL to ``server_url`` whose search_path is a new schema ``{prefix}_<random>``; dropped on exit."""
    import sqlalchemy as sa

    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(server_url)
    with admin.begin() as conn:
        conn.execute(sa.text(f'create schema "{schema}"'))
    sep = "&" if "?" in server_url else "?"
    try:
        yield f"{server_url}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'drop schema if exists "{schema}" cascade'))
        admin.dispose()
