"""``readiness vault init``, ``put``, ``get``, ``list`` and ``revoke``: the credentials from the command line."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from vault.cli_common import (
    ActorOpt,
    DbOpt,
    Format,
    FormatOpt,
    KeySourceOpt,
    command,
    die,
    err,
    info_dict,
    make_key_source,
    open_vault,
    out,
    parse_actor,
    parse_expiry,
    print_json,
    read_stdin_tokens,
    shown_when,
)
from vault.errors import KeyUnavailable, VaultError

if TYPE_CHECKING:
    pass


@command()
def init(db: DbOpt = None, key_source: KeySourceOpt = None) -> None:
    """Create the vault in the database (idempotent): its primary KEK is the key source's primary."""
    from vault.store import Vault

    source = make_key_source(key_source)
    created = False
    try:
        vault = Vault.open(db, source)
    except KeyUnavailable:
        raise
    except VaultError as exc:
        if "no vault yet" not in str(exc):
            raise
        vault, created = Vault.init(db, source), True
    try:
        ring = vault._ring()
        where = vault.engine.url.render_as_string(hide_password=True)
    finally:
        vault.close()
    verb = "initialised a new vault" if created else "the vault was already initialised; nothing changed"
    out.print(f"{verb} at {where}", markup=False)
    out.print(f"primary KEK {ring.primary.fingerprint} from key source {source.name}", markup=False)


@command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def put(
    ctx: typer.Context,
    tenant: Annotated[str, typer.Argument(help="Tenant id")],
    provider: Annotated[str, typer.Argument(help="Provider: google, microsoft, ghl, …")],
    account: Annotated[str, typer.Argument(help="The account the tokens belong to (email, location id)")],
    expires_at: Annotated[str | None, typer.Option("--expires-at", help="Access token expiry, ISO 8601")] = None,
    expires_in: Annotated[int | None, typer.Option("--expires-in", help="Access token lifetime in seconds")] = None,
    scope: Annotated[list[str] | None, typer.Option("--scope", help="A granted scope (repeatable)")] = None,
    with_refresh: Annotated[
        bool, typer.Option("--with-refresh", help="Read a refresh token from the second line of stdin")
    ] = False,
    credential_id: Annotated[str | None, typer.Option("--id", help="Credential id for a new credential")] = None,
    db: DbOpt = None,
    key_source: KeySourceOpt = None,
    as_: ActorOpt = None,
) -> None:
    """Store a credential's tokens, read from STDIN (never an argument); print its id.

    Line 1 of stdin is the access token; with --with-refresh, line 2 is the refresh token. On a terminal
    you are prompted without echo. Storing the same tenant/provider/account again replaces the tokens;
    without --with-refresh the stored refresh token is kept.
    """
    from vault.secret import Secret

    if ctx.args:  # click would echo them in its error, and one may well be a token
        names = sorted({a.split("=", 1)[0] for a in ctx.args if a.startswith("--")})
        shown = f" (options: {', '.join(names)})" if names else ""
        die(
            f"put takes no token argument: {len(ctx.args)} unexpected argument(s), not shown{shown}. Tokens are "
            "read from standard input only: `readiness vault put TENANT PROVIDER ACCOUNT < token.txt`"
        )
    actor = parse_actor(as_)
    access_buf, refresh_buf = read_stdin_tokens(with_refresh)
    access, refresh = Secret(access_buf), Secret(refresh_buf) if refresh_buf is not None else None
    try:
        with open_vault(db, key_source) as vault:
            expiry = parse_expiry(expires_at, expires_in, vault.clock.now())
            cid = vault.put(
                actor,
                tenant,
                provider,
                account,
                access,
                refresh,
                expires_at=expiry,
                scopes=scope or (),
                credential_id=credential_id,
            )
    finally:
        access.wipe()
        if refresh is not None:
            refresh.wipe()
    sys.stdout.write(cid + "\n")
    err.print(f"stored {provider} credential {cid} for {account} in tenant {tenant}", markup=False)


@command()
def get(
    tenant: Annotated[str, typer.Argument(help="Tenant id")],
    credential_id: Annotated[str, typer.Argument(help="Credential id (from put or list)")],
    reveal: Annotated[
        bool, typer.Option("--reveal", help="Decrypt and print the tokens (if your role may; audited)")
    ] = False,
    format: FormatOpt = Format.table,
    db: DbOpt = None,
    key_source: KeySourceOpt = None,
    as_: ActorOpt = None,
) -> None:
    """Show a credential: metadata and the token's HMAC fingerprint, masked; --reveal decrypts.

    Without --reveal nothing is decrypted (the list permission suffices). With --reveal the vault's RBAC
    decides (admin, or a service actor of the tenant) and the read is audited; a denial is audited too.
    """
    actor = parse_actor(as_)
    with open_vault(db, key_source) as vault:
        infos = [i for i in vault.list(actor, tenant) if i.id == credential_id]
        if not infos:
            raise VaultError(f"no credential {credential_id!r} in tenant {tenant!r}")
        info = infos[0]
        data = info_dict(info)
        if reveal:
            with vault.get(actor, tenant, credential_id) as tokens:
                data["access_token"] = tokens.access_token.reveal()
                data["refresh_token"] = tokens.refresh_token.reveal() if tokens.refresh_token else None
        else:
            data["access_token"] = "***"
            data["refresh_token"] = "***" if info.has_refresh_token else None
    if format is Format.json:
        print_json(data)
        return
    from rich.table import Table  # only where a table is drawn

    table = Table("field", "value", show_header=False)
    for key in (
        "id",
        "tenant",
        "provider",
        "account",
        "state",
        "scopes",
        "expires_at",
        "token_fingerprint",
        "access_token",
        "refresh_token",
        "dek_version",
        "refresh_due_at",
        "last_refresh_at",
        "last_refresh_error",
        "failures",
        "created_at",
        "updated_at",
    ):
        value = data.get(key)
        table.add_row(key, ", ".join(value) if isinstance(value, list) else "-" if value is None else str(value))
    out.print(table, markup=False)
    if not reveal:
        err.print(
            "tokens masked; add --reveal to decrypt (needs admin, or service for this tenant; audited)", markup=False
        )


@command("list")
def list_(
    tenant: Annotated[str | None, typer.Option("--tenant", help="Only this tenant")] = None,
    provider: Annotated[str | None, typer.Option("--provider", help="Only this provider")] = None,
    format: FormatOpt = Format.table,
    db: DbOpt = None,
    key_source: KeySourceOpt = None,
    as_: ActorOpt = None,
) -> None:
    """Credential metadata: never a token, never a ciphertext."""
    actor = parse_actor(as_)
    with open_vault(db, key_source) as vault:
        infos = vault.list(actor, tenant, provider)
    if format is Format.json:
        print_json([info_dict(i) for i in infos])
        return
    if not infos:
        out.print("no credentials" + (f" in tenant {tenant}" if tenant else ""), markup=False)
        return
    from rich.table import Table  # only where a table is drawn

    table = Table("id", "tenant", "provider", "account", "state", "expires", "refresh", "fingerprint", "dek")
    for i in infos:
        table.add_row(
            i.id,
            i.tenant,
            i.provider,
            i.account,
            i.state,
            shown_when(i.expires_at),
            "yes" if i.has_refresh_token else "no",
            i.token_fingerprint,
            f"v{i.dek_version}",
        )
    out.print(table, markup=False)


@command()
def revoke(
    tenant: Annotated[str, typer.Argument(help="Tenant id")],
    credential_id: Annotated[str, typer.Argument(help="Credential id")],
    db: DbOpt = None,
    key_source: KeySourceOpt = None,
    as_: ActorOpt = None,
) -> None:
    """Mark a credential revoked and erase its ciphertexts (the provider's own revocation is separate)."""
    actor = parse_actor(as_)
    with open_vault(db, key_source) as vault:
        vault.revoke(actor, tenant, credential_id)
    out.print(f"revoked {credential_id} in tenant {tenant}", markup=False)
