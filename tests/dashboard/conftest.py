"""Fixtures for the dashboard tests: a history database made once by the real engine, copied per test."""

from __future__ import annotations

import shutil

import pytest

from tests.dashboard.story import copy_manifest, make_history


@pytest.fixture(scope="session")
def _history_template(tmp_path_factory):
    """Two database files (weeks 0-1 and weeks 0-2) built once; tests get copies."""
    root = tmp_path_factory.mktemp("history")
    manifest = copy_manifest(root)
    out = {}
    for weeks in (1, 2):
        path = root / f"week{weeks}.db"
        make_history(f"sqlite:///{path}", manifest, weeks=weeks)
        out[weeks] = path
    return out


@pytest.fixture
def manifest_path(tmp_path):
    return copy_manifest(tmp_path)


def _copy(template, tmp_path, name):
    target = tmp_path / name
    shutil.copyfile(template, target)
    return f"sqlite:///{target}"


@pytest.fixture
def history_url(_history_template, tmp_path):
    """A SQLite URL holding weeks 0-1 and Oct 14 (NO-GO, blockers, the OAuth escalation in force)."""
    return _copy(_history_template[1], tmp_path, "history.db")


@pytest.fixture
def history2_url(_history_template, tmp_path):
    """A SQLite URL holding weeks 0-2 (CONDITIONAL: the GHL gap is waived)."""
    return _copy(_history_template[2], tmp_path, "history2.db")
