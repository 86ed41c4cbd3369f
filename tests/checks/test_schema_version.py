"""Migrations run only when the stored schema is not at the head (issue 13): an up-to-date database is opened
without Alembic, a fresh or older one is still migrated. History and vault, on SQLite and PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.config import Config
from alembic.script import ScriptDirectory

import checks.storage.schema as history_schema
import vault.models as vault_models
from vault.schema_version import head_revision, is_current

ROOT = Path(__file__).resolve().parents[2]
STORES = {
    "history": (history_schema, "0001", "readiness_alembic_version"),
    "vault": (vault_models, "v0001", "vault_alembic_version"),
}


def alembic_heads(module) -> list[str]:
    config = Config()
    config.set_main_option("script_location", str(module._MIGRATIONS))
    return ScriptDirectory.from_config(config).get_heads()


def engine_for(module, url: str) -> sa.Engine:
    return module.make_engine(url) if module is history_schema else vault_models_engine(url)


def vault_models_engine(url: str) -> sa.Engine:
    from vault.store_session import create_engine

    return create_engine(url)


def stored(engine: sa.Engine, table: str) -> list[str]:
    with engine.connect() as conn:
        return conn.execute(sa.text(f"SELECT version_num FROM {table}")).scalars().all()


@pytest.mark.parametrize("name", STORES)
def test_the_head_read_from_the_files_is_alembics(name):
    module = STORES[name][0]
    assert [head_revision(module._MIGRATIONS / "versions")] == alembic_heads(module)


def test_two_heads_or_an_unreadable_file_leave_it_to_alembic(tmp_path):
    (tmp_path / "a.py").write_text('revision = "a"\ndown_revision = None\n')
    (tmp_path / "b.py").write_text('revision: str = "b"\ndown_revision: str | None = "a"\n')
    assert head_revision(tmp_path) == "b"
    (tmp_path / "c.py").write_text('revision = "c"\ndown_revision = "a"\n')  # a branch: heads b and c
    head_revision.cache_clear()
    assert head_revision(tmp_path) is None
    head_revision.cache_clear()


@pytest.mark.parametrize("name", STORES)
def test_a_fresh_database_is_migrated_to_the_head(name, db_url):
    module, _, table = STORES[name]
    engine = engine_for(module, db_url)
    try:
        assert not is_current(engine, table, module._MIGRATIONS / "versions")
        module.upgrade(engine)
        assert stored(engine, table) == alembic_heads(module)
        assert is_current(engine, table, module._MIGRATIONS / "versions")
    finally:
        engine.dispose()


@pytest.mark.parametrize("name", STORES)
def test_an_older_database_is_still_migrated(name, db_url):
    module, first, table = STORES[name]
    engine = engine_for(module, db_url)
    try:
        module.upgrade(engine, first)
        assert stored(engine, table) == [first]
        assert not is_current(engine, table, module._MIGRATIONS / "versions")
        module.upgrade(engine)
        assert stored(engine, table) == alembic_heads(module)
        columns = {c["name"] for c in sa.inspect(engine).get_columns("runs" if name == "history" else "credentials")}
        assert ("seq" if name == "history" else "row_mac") in columns  # the second migration's column is there
    finally:
        engine.dispose()


@pytest.mark.parametrize("name", STORES)
def test_an_up_to_date_database_opens_without_alembic(name, db_url):
    """In a fresh interpreter, as a command opens it: the store at the head, and Alembic never imported."""
    module, _, _ = STORES[name]
    engine = engine_for(module, db_url)
    module.upgrade(engine)
    engine.dispose()
    make = (
        "m.make_engine(url)"
        if name == "history"
        else "__import__('vault.store_session').store_session.create_engine(url)"
    )
    code = (
        f"import sys; import {module.__name__} as m; url = {db_url!r}; e = {make}; m.upgrade(e); e.dispose(); "
        "print(sorted(n for n in sys.modules if n.split('.')[0] == 'alembic'))"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_the_vault_schema_made_without_alembic_is_the_migrated_one(db_url):
    """The self-test's scratch vault is built from the models (no Alembic): the schema the migrations make."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    engine = vault_models_engine(db_url)
    try:
        vault_models.create_at_head(engine)
        assert stored(engine, "vault_alembic_version") == alembic_heads(vault_models)
        with engine.connect() as conn:
            ctx = MigrationContext.configure(
                conn, opts={"version_table": "vault_alembic_version", "compare_type": True}
            )
            assert compare_metadata(ctx, vault_models.Base.metadata) == []
        vault_models.upgrade(engine)  # at the head already: nothing to do, and nothing fails
        assert stored(engine, "vault_alembic_version") == alembic_heads(vault_models)
    finally:
        engine.dispose()


def test_the_vault_models_are_what_the_migrations_make(db_url):
    """What makes the test above mean something: the migrated schema and the models agree."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    engine = vault_models_engine(db_url)
    try:
        vault_models.upgrade(engine)
        with engine.connect() as conn:
            ctx = MigrationContext.configure(
                conn, opts={"version_table": "vault_alembic_version", "compare_type": True}
            )
            assert compare_metadata(ctx, vault_models.Base.metadata) == []
    finally:
        engine.dispose()
