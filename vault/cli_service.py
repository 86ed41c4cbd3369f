"""``readiness vault service-token create|list|revoke``: the identities of the vault service's callers
(:mod:`vault.service_tokens`), and ``readiness vault serve``: the vault as an HTTPS service (:mod:`vault.serve`)."""

from __future__ import annotations

import sys
from datetime import timedelta
from typing import Annotated

import typer

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
    tenant: Annotated[
        list[str] | None, typer.Option("--tenant", help="A tenant it may touch (repeatable; required for service)")
    ] = None,
    provider: Annotated[
        list[str] | None, typer.Option("--provider", help="A provider it may touch (repeatable; default: all)")
    ] = None,
    expires_in_days: Annotated[
        int | None, typer.Option("--expires-in-days", help="Expire after this many days (default: 90; 0: never)")
    ] = 90,
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
        issued = ServiceTokens(vault).create(actor, name, role_, tenants=tenant, providers=provider, expires_in=expires)
    try:
        sys.stdout.write(issued.token.reveal() + "\n")
    finally:
        issued.token.wipe()
    ident = issued.identity
    scope = ", ".join(sorted(ident.tenants)) if ident.tenants is not None else "every tenant"
    err.print(
        f"created service identity {ident.name} ({ident.id}), role {ident.role.value}, {scope}, expires "
        f"{shown_when(ident.expires_at)}; the token above is shown once: store it in the caller's secret "
        "manager now",
        markup=False,
    )


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
    from rich.table import Table  # only where a table is drawn: keeps the CLI's start-up light

    table = Table("id", "name", "role", "tenants", "providers", "state", "expires", "last used")
    for i in identities:
        table.add_row(
            i.id,
            i.name,
            i.role.value,
            ", ".join(sorted(i.tenants)) if i.tenants is not None else "*",
            ", ".join(sorted(i.providers)) if i.providers is not None else "*",
            i.state(now),
            shown_when(i.expires_at),
            shown_when(i.last_used_at),
        )
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


@command()
def serve(
    host: Annotated[
        str, typer.Option("--host", help="Address to listen on (plain HTTP only on loopback)")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port")] = 8443,
    cert: Annotated[
        str | None,
        typer.Option("--cert", envvar="TOKEN_VAULT_TLS_CERT", show_envvar=True, help="TLS certificate chain (PEM)"),
    ] = None,
    key: Annotated[
        str | None, typer.Option("--key", envvar="TOKEN_VAULT_TLS_KEY", show_envvar=True, help="TLS private key (PEM)")
    ] = None,
    client_ca: Annotated[
        str | None,
        typer.Option(
            "--client-ca",
            envvar="TOKEN_VAULT_CLIENT_CA",
            show_envvar=True,
            help="Require client certificates signed by this CA (mutual TLS)",
        ),
    ] = None,
    rate: Annotated[float, typer.Option("--rate", help="Requests a second per identity")] = 100.0,
    burst: Annotated[int, typer.Option("--burst", help="Burst per identity")] = 200,
    max_body: Annotated[int, typer.Option("--max-body", help="Largest request body, bytes")] = 64 * 1024,
    access_log: Annotated[
        bool, typer.Option("--access-log/--no-access-log", help="One scrubbed line per request on stderr")
    ] = True,
    db: DbOpt = None,
    key_source: KeySourceOpt = None,
) -> None:
    """Serve the vault over HTTPS: tokens for the platform's backend, per service identity, audited.

    Due credentials are refreshed on demand through the provider endpoints configured in the environment
    (GOOGLE_OAUTH_CLIENT_ID/_SECRET, MICROSOFT_OAUTH_…, GHL_OAUTH_…); several servers on one PostgreSQL
    refresh each credential once. Plain HTTP is refused off loopback. See docs/vault.md.
    """
    import os

    from vault.rbac import Actor
    from vault.refresh import Refresher, standins_rewriter
    from vault.refresh_endpoints import endpoints_from_env
    from vault.serve import bind, check_listen, configure_logging, uvicorn_config
    from vault.service_app import ServiceSettings, build_app
    from vault.service_refresh import OnDemandRefresh

    tls = check_listen(host, cert, key, client_ca)
    sock = bind(host, port)
    configure_logging(access_log)
    with open_vault(db, key_source) as vault:
        endpoints = endpoints_from_env()
        refresher = (
            Refresher(
                vault,
                Actor("vault-service", Role.ADMIN),
                endpoints=endpoints,
                url_rewriter=standins_rewriter(os.environ.get("READINESS_STANDINS_URL")),
            )
            if endpoints
            else None
        )
        settings = ServiceSettings(rate=rate, burst=burst, max_body=max_body)
        app = build_app(vault, OnDemandRefresh(vault, refresher), settings)
        config = uvicorn_config(app, host, port, certfile=cert, keyfile=key, client_ca=client_ca)
        import uvicorn

        shown_port = sock.getsockname()[1]
        err.print(
            f"vault service on {'https' if tls else 'http'}://{host}:{shown_port} "
            f"(refreshing {', '.join(sorted(endpoints)) or 'nothing: no provider endpoint configured'})",
            markup=False,
        )
        try:
            uvicorn.Server(config).run(sockets=[sock])
        finally:
            if refresher is not None:
                refresher.close()
            sock.close()


__all__ = ["create", "list_", "revoke", "serve", "service_token_app"]
