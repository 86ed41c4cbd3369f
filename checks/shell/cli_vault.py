"""``readiness vault …``: the vault's own typer app (:mod:`vault.cli`) mounted on the ``readiness`` group."""

from __future__ import annotations

from checks.shell.cli_app import app
from vault.cli import vault_app

app.add_typer(vault_app, name="vault")
