"""``readiness vault service-token create|list|revoke``: the identities of the vault service's callers
(:mod:`vault.service_tokens`), and ``readiness vault serve``: the vault as an HTTPS service (:mod:`vault.serve`)."""

from __future__ import annotations

import sys
from datetime import timedelta
from typing import Annotated

import typer
from rich.table import Table

from vault.cli_common import (
    ActorOpt,
    DbOpt,
    Format,
    FormatOpt,
    KeySourceOpt,
    command,
    err,
    open_vault,
    out,
    parse_actor,
    print_json,
    shown_when,
    vault_app,
)
from vault.rbac import Role

service_token_app = typer.Typer(
    name="service-token",
    help="The vault service's caller identities: per-service API tokens (shown once, stored as hashes), scoped "
         "to tenants and providers, with expiry and revocation. Needs an unscoped admin (--as NAME:admin).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
vault_app.add_typer(service_token_app)

_ROLES = ", ".join(r.value for r in Role)


@service_token_app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="The identity's name (the audit log shows svc:NAME)")],
    role: Annotated[str, typer.Option("--role", help=f"One of {_ROLES}")] = "service",
    tenant: Annotated[list[str] | None, typer.Option("--tenant", help="A tenant it may touch (repeatable; "
                                                     "required for service)")] = None,
    provider: Annotated[list[str] | None, typer.Option("--provider", help="A provider it may touch (repeatable; "
                                                       "default: all)")] = None,
    expires_in_days: Annotated[int | None, typer.Option("--expires-in-days", help="Expire after this many days "
                                                        "(default: 90; 0: never)")] = 90,
    db: DbOpt = None,
    key_source: KeySourceOpt = None,
    as_: ActorOpt = None,
) -> None:
    """Create an identity and print its token on stdout, once: it is stored only as a SHA-256 hash."""
    from vault.service_tokens import ServiceTokens

    actor = parse_actor(as_)
    try:
        role_ = Role(role.strip().lower())
    except ValueError:
        raise typer.BadParameter(f"unknown role {role!r}; use one of {_ROLES}", param_hint="--role") from None
    expires = timedelta(days=expires_in_days) if expires_in_days else None
    with open_vault(db, key_source) as vault:
        issued = ServiceTokens(vault).create(actor, name, role_, tenants=tenant, providers=provider,
                                             expires_in=expires)
    try:
        sys.stdout.write(issued.token.reveal() + "\n")
    finally:
        issued.token.wipe()
    ident = issued.identity
    scope = ", ".join(sorted(ident.tenants)) if ident.tenants is not None else "every tenant"
    err.print(f"created service identity {ident.name} ({ident.id}), role {ident.role.value}, {scope}, expires "
              f"{shown_when(ident.expires_at)}; the token above is shown once: store it in the caller's secret "
              "manager now", markup=False)


@service_token_app.command("list")
def list_(
    format: FormatOpt = Format.table,
    db: DbOpt = None,
    key_source: KeySourceOpt = None,
    as_: ActorOpt = None,
) -> None:
    """Every identity: name, role, scope, state, expiry, last use. Never a token or its hash."""
    from vault.service_tokens import ServiceTokens

    actor = parse_actor(as_)
    with open_vault(db, key_source) as vault:
        identities = ServiceTokens(vault).list(actor)
        now = vault.clock.now()
    if format is Format.json:
        print_json([i.as_dict(now) for i in identities])
        return
    if not identities:
        out.print("no service identities: create one with `readiness vault service-token create NAME`", markup=False)
        return
    table = Table("id", "name", "role", "tenants", "providers", "state", "expires", "last used")
    for i in identities:
        table.add_row(i.id, i.name, i.role.value, ", ".join(sorted(i.tenants)) if i.tenants is not None else "*",
                      ", ".join(sorted(i.providers)) if i.providers is not None else "*", i.state(now),
                      shown_when(i.expires_at), shown_when(i.last_used_at))
    out.print(table, markup=False)


@service_token_app.command("revoke")
def revoke(
    identity: Annotated[str, typer.Argument(help="The identity's id or name")],
    db: DbOpt = None,
    key_source: KeySourceOpt = None,
    as_: ActorOpt = None,
) -> None:
    """Revoke an identity: every server refuses its token from the next request on."""
    from vault.service_tokens import ServiceTokens

    actor = parse_actor(as_)
    with open_vault(db, key_source) as vault:
        ident = ServiceTokens(vault).revoke(actor, identity)
    out.print(f"revoked service identity {ident.name} ({ident.id})", markup=False)


__all__ = ["create", "list_", "revoke", "service_token_app"]
