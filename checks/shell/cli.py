"""The ``readiness`` command line. Exit codes: 0 GO or CONDITIONAL, 1 NO-GO, 2 unusable input.

The group lives in :mod:`checks.shell.cli_app`; the commands, one module per group, in ``cli_check``,
``cli_history`` and ``cli_serve``; the vault's commands in :mod:`vault.cli`.

typer gives typed options and ``--help`` from the signatures; rich draws tables and progress on a terminal.
"""

from __future__ import annotations

# Each module registers its commands on the group when imported.
import checks.shell.cli_check  # noqa: F401
import checks.shell.cli_history  # noqa: F401
import checks.shell.cli_serve  # noqa: F401
import checks.shell.cli_watch  # noqa: F401
from checks.shell.cli_app import app

__all__ = ["app", "main"]

from vault.cli import vault_app  # noqa: E402  (cheap: `vault` is already loaded by checks.core.errors; commands import lazily)

app.add_typer(vault_app, name="vault")


def main() -> None:
    """Console-script entry point: whatever stops a command is one line and exit 2 (:mod:`checks.shell.cli_errors`).

    Logging goes through the redacting filter (:mod:`vault.redact`): a library that logs a request at
    WARNING cannot print a token this process handles."""
    import logging

    from checks.shell.cli_errors import main as run
    from vault.redact import install

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    install()
    run(app)


if __name__ == "__main__":
    main()
