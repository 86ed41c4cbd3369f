"""Whether a database's schema is at the head of its migrations, answered without importing Alembic.

Opening a store on every command (``readiness check``, the dashboard, each vault command) used to run
``alembic upgrade head``: importing Alembic and building its script directory costs more than the command
itself. The head is read from the migration files' ``revision`` and ``down_revision`` lines (what Alembic
reads too; ``tests/checks/test_schema_version.py`` holds them equal), the stored revision with one query on
the version table; Alembic runs only when they differ: a fresh database, or one an older release migrated.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

import sqlalchemy as sa

__all__ = ["head_revision", "is_current"]

_REVISION = re.compile(r"^revision\s*(?::[^=]*)?=\s*[\"']([^\"']+)[\"']", re.MULTILINE)
_DOWN = re.compile(r"^down_revision\s*(?::[^=]*)?=\s*(.+)$", re.MULTILINE)
_QUOTED = re.compile(r"[\"']([^\"']+)[\"']")


@functools.cache
def head_revision(versions: Path) -> str | None:
    """The one head revision of the migrations in ``versions``; None when there is not exactly one (or a file
    does not say), and then only Alembic can tell."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in sorted(versions.glob("*.py")):
        text = path.read_text(encoding="utf-8")
        revision, down = _REVISION.search(text), _DOWN.search(text)
        if revision is None or down is None:
            return None
        revisions.add(revision.group(1))
        parents.update(_QUOTED.findall(down.group(1)))
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


def is_current(engine: sa.Engine, version_table: str, versions: Path) -> bool:
    """Whether the database behind ``engine`` is at the head of ``versions`` (one cheap query, no Alembic).

    False for a database with no version table yet, or an older or newer revision: let Alembic decide. A
    database that cannot be reached raises, as a migration would."""
    head = head_revision(versions)
    if head is None:
        return False
    with engine.connect() as conn:
        try:
            stored = conn.execute(sa.text(f"SELECT version_num FROM {version_table}")).scalars().all()
        except sa.exc.DBAPIError:  # no such table: never migrated
            conn.rollback()
            return False
    return stored == [head]
