"""The ``readiness`` command line. Exit codes: 0 GO or CONDITIONAL, 1 NO-GO, 2 unusable input.

The group lives in :mod:`checks.shell.cli_app`; the commands, one module per group, in ``cli_check``,
``cli_history``, ``cli_serve`` and ``cli_watch``; the vault's commands in :mod:`vault.cli`, mounted by
``cli_vault``. Importing a module registers its commands on the group.

The console script builds only what it runs: ``readiness validate …`` imports ``cli_check`` and builds its
three commands, not the other twenty-odd (typer reads every command's signature each time the tree is built).
A name it does not know, ``--help`` or nothing at all builds the whole tree, so help and click's "No such
command" are as ever. ``app`` (for tests and ``python -m``) is always the whole tree.

typer gives typed options and ``--help`` from the signatures; rich draws tables and progress on a terminal.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["COMMANDS", "app", "main"]  # noqa: F822  (app: module __getattr__, the whole tree on first use)

COMMANDS: dict[str, str] = {
    "check": "checks.shell.cli_check",
    "validate": "checks.shell.cli_check",
    "plugins": "checks.shell.cli_check",
    "attest": "checks.shell.cli_history",
    "waive": "checks.shell.cli_history",
    "report": "checks.shell.cli_history",
    "checkpoint": "checks.shell.cli_history",
    "standins": "checks.shell.cli_serve",
    "dashboard": "checks.shell.cli_serve",
    "demo": "checks.shell.cli_serve",
    "watch": "checks.shell.cli_watch",
    "history": "checks.shell.cli_history",  # typer lists a group after the plain commands
    "vault": "checks.shell.cli_vault",
}
"""Each top-level command and the module that registers it; ``--help`` lists them in this modules' order
(a test checks the table against the commands the modules register)."""


def whole_app() -> Any:
    """The ``readiness`` group with every command registered."""
    return app_for([])


def app_for(args: list[str]) -> Any:
    """The group as ``readiness ARGS`` needs it: only the named command's module when the first argument names
    one, else every command."""
    named = COMMANDS.get(args[0]) if args else None
    for module in [named] if named else dict.fromkeys(COMMANDS.values()):
        importlib.import_module(module)
    from checks.shell.cli_app import app as group

    return group


def __getattr__(name: str) -> Any:
    if name == "app":
        return whole_app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def main() -> None:
    """Console-script entry point: whatever stops a command is one line and exit 2 (:mod:`checks.shell.cli_errors`).

    Logging goes through the redacting filter (:mod:`vault.redact`): a library that logs a request at
    WARNING cannot print a token this process handles."""
    import logging
    import os
    import sys

    # httpx's own command line (``httpx._main``: click, rich's console, pygments' lexers) is imported by
    # ``import httpx`` whenever those happen to be installed, as they are here; Readiness never runs it. Marking
    # it absent makes httpx take its documented fallback (a ``main`` that says the CLI extra is missing), which
    # keeps two fifths of httpx's import time off every command that sweeps.
    sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
    # pydantic looks for plugins of its own (observability hooks) by reading every installed distribution's entry
    # points when the first model is built: 6 % of `readiness validate`. Readiness's models are its own business;
    # the documented switch turns the search off unless the caller set it (an empty value searches again).
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")

    from checks.shell.cli_errors import main as run
    from vault.redact import install

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    install()
    run(app_for(sys.argv[1:]))


if __name__ == "__main__":
    main()
