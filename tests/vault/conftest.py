"""Fixtures shared by the vault's store, audit and integrity tests: a fresh vault and a raw engine on the same
database (SQLite and PostgreSQL, through ``db_url``), for edits an attacker with database access would make."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from vault import StaticKeySource, Vault

STORE_KEY = bytes(range(32))
"""The KEK of ``vault_`` (the modules' ``K1``)."""


@pytest.fixture
def vault_(db_url, clock):
    v = Vault.init(db_url, StaticKeySource(STORE_KEY), clock)
    yield v
    v.close()


@pytest.fixture
def raw(db_url):
    engine = sa.create_engine(db_url)
    yield engine
    engine.dispose()
