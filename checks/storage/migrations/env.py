"""Alembic environment for the history store.

:func:`checks.storage.schema.upgrade` passes an open connection in ``config.attributes["connection"]``; without
one (an operator running ``alembic`` by hand) the URL comes from ``sqlalchemy.url`` or READINESS_DB_URL.
"""

from __future__ import annotations

import os

import sqlalchemy as sa
from alembic import context

from checks.storage.schema import DEFAULT_DB_URL, VERSION_TABLE, Base


def _run(connection: sa.Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        version_table=VERSION_TABLE,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    url = context.config.get_main_option("sqlalchemy.url") or os.environ.get("READINESS_DB_URL")
    url = url or DEFAULT_DB_URL
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        _run(conn)
    engine.dispose()
