"""``readiness vault …``: the token vault from the command line (a typer sub-app of ``checks.shell.cli``).

Where things come from:

* the database: ``--db`` or ``TOKEN_VAULT_DB_URL``, else ``READINESS_DB_URL``, else
  ``sqlite:///./.readiness/readiness.db`` (``Vault.open``'s own fallback);
* the keys: ``--key-source`` or ``TOKEN_VAULT_KEY_SOURCE`` (``env``, ``file:PATH``,
  ``gcp:projects/P/secrets/S``; see :mod:`vault.keys`);
* who is acting: ``--as NAME:ROLE[:TENANT,TENANT]`` or ``TOKEN_VAULT_ACTOR``, else the OS user as a
  ``viewer``. **The role is asserted by whoever runs the command**: anyone who holds the database URL and
  the key can claim ``admin``. The CLI's roles keep honest people on the right path and put a name in the
  audit log; real identity comes with the dashboard's OIDC login (and, past one machine, with database
  and Secret Manager permissions).

Tokens go in on standard input only (``put``), never as an argument (arguments land in shell history and
``ps``). ``get`` prints metadata and the HMAC fingerprint; it decrypts only with ``--reveal``, which the
vault's RBAC decides (and audits). Vault errors (``AccessDenied``, ``KeyUnavailable``, …) end the command
with their message and exit status 2 (the error boundary, ``checks.shell.cli_errors``); ``audit --verify`` and
``self-test`` exit 1 when they find a problem.

The commands live one group a module: ``cli_tokens`` (init, put, get, list, revoke), ``cli_keys``
(rotate-key, rewrap), ``cli_ops`` (refresh, audit, self-test), ``cli_service`` (service-token, serve), on the app
and plumbing of ``cli_common``.
"""

from __future__ import annotations

from vault.cli_common import ENV_ACTOR, parse_actor, vault_app

# Importing a command module registers its commands on vault_app; `--help` lists them in this order.
# isort: off
import vault.cli_tokens  # noqa: F401
import vault.cli_keys  # noqa: F401
import vault.cli_ops  # noqa: F401
import vault.cli_service  # noqa: F401
# isort: on

__all__ = ["ENV_ACTOR", "parse_actor", "vault_app"]
