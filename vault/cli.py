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
"""

from __future__ import annotations

import functools
import getpass
import inspect
import json
import logging
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from vault.dburl import db_option
from vault.errors import KeyUnavailable, VaultError
from vault.rbac import Actor, Role

if TYPE_CHECKING:
    from vault.keys import KeyRing, KeySource
    from vault.store import CredentialInfo, Vault

__all__ = ["ENV_ACTOR", "parse_actor", "vault_app"]

ENV_ACTOR = "TOKEN_VAULT_ACTOR"

vault_app = typer.Typer(
    name="vault",
    help=(
        "The token vault: store, reveal, rotate and audit OAuth tokens. The --as role is asserted by whoever "
        "runs the command; real identity comes with the dashboard's OIDC login."
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
out = Console(highlight=False)
err = Console(stderr=True, highlight=False)


class Format(str, Enum):
    table = "table"
    json = "json"


DbOpt = Annotated[
    str | None,
    typer.Option("--db", envvar="TOKEN_VAULT_DB_URL", show_envvar=True,
                 callback=db_option("--db", ["READINESS_DB_URL"], "sqlite:///./.readiness/readiness.db"),
                 help="Vault database URL [default: READINESS_DB_URL, else sqlite:///./.readiness/readiness.db]"),
]
KeySourceOpt = Annotated[
    str | None,
    typer.Option("--key-source", envvar="TOKEN_VAULT_KEY_SOURCE", show_envvar=True,
                 help="Where the keys come from: env (TOKEN_VAULT_ENCRYPTION_KEY), file:PATH or "
                      "gcp:projects/P/secrets/S"),
]
ActorOpt = Annotated[
    str | None,
    typer.Option("--as", envvar=ENV_ACTOR, show_envvar=True, metavar="NAME:ROLE[:TENANT,…]",
                 help="Who is acting, e.g. ada:admin or sync:service:acme,globex (role: admin, service, auditor, "
                      "viewer). Asserted by whoever runs the command [default: the OS user as viewer]"),
]
FormatOpt = Annotated[Format, typer.Option("--format", "-f", help="table or json")]


# ---------------------------------------------------------------------------------------------- plumbing

_F = TypeVar("_F", bound=Callable[..., Any])


def _command(name: str | None = None, **settings: Any) -> Callable[[_F], _F]:
    """``vault_app.command``, with the docstring's paragraphs reflowed (the help keeps single newlines) and a
    vault error's kind named in its message (``AccessDenied: access denied: role viewer may not get``)."""

    def register(fn: _F) -> _F:
        paragraphs = inspect.cleandoc(fn.__doc__ or "").split("\n\n")
        text = "\n\n".join(" ".join(line.strip() for line in p.splitlines()) for p in paragraphs)

        @functools.wraps(fn)
        def named_errors(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            except VaultError as exc:  # checks.shell.cli_errors prints it and exits 2; name the kind (AccessDenied, …)
                if type(exc) is VaultError or str(exc).startswith(type(exc).__name__):
                    raise
                raise type(exc)(f"{type(exc).__name__}: {exc}") from exc

        vault_app.command(name, help=text, **settings)(named_errors)
        return fn

    return register


def _die(message: str, code: int = 2) -> NoReturn:
    err.print(f"[red]error:[/red] {escape(message)}", markup=True, soft_wrap=True)  # one line, however long
    raise typer.Exit(code)


def parse_actor(spec: str | None) -> Actor:
    """``NAME:ROLE[:TENANT,TENANT]`` as an :class:`Actor`; ``None`` or empty: the OS user as a viewer."""
    if not spec or not spec.strip():
        return Actor(_os_user(), Role.VIEWER)
    name, _, rest = spec.strip().partition(":")
    role_text, _, tenants_text = rest.partition(":")
    roles = ", ".join(r.value for r in Role)
    if not name or not role_text:
        raise typer.BadParameter(f"expected NAME:ROLE[:TENANT,TENANT] (role: {roles}); got {spec!r}",
                                 param_hint="--as / TOKEN_VAULT_ACTOR")
    try:
        role = Role(role_text.strip().lower())
    except ValueError:
        raise typer.BadParameter(f"unknown role {role_text!r}; use one of {roles}",
                                 param_hint="--as / TOKEN_VAULT_ACTOR") from None
    tenants = frozenset(t.strip() for t in tenants_text.split(",") if t.strip()) if tenants_text else None
    try:
        return Actor(name.strip(), role, tenants)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--as / TOKEN_VAULT_ACTOR") from None


def _os_user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no user name in a bare container
        return f"uid-{os.getuid()}" if hasattr(os, "getuid") else "unknown"


def _key_source(spec: str | None) -> KeySource:
    from vault.keys import key_source_from_spec

    return key_source_from_spec(spec)


@contextmanager
def _open(db: str | None, key_source: str | None) -> Iterator[Vault]:
    from vault.store import Vault

    vault = Vault.open(db, _key_source(key_source))
    try:
        yield vault
    finally:
        vault.close()


@contextmanager
def _progress(what: str) -> Iterator[Callable[[int, int], None] | None]:
    """A progress callback drawing a bar on stderr when stderr is a terminal; ``None`` otherwise."""
    if not err.is_terminal:
        yield None
        return
    bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                   console=err, transient=True)
    task = bar.add_task(what, total=None)

    def advance(done: int, total: int) -> None:
        bar.update(task, completed=done, total=max(total, done) or None)

    with bar:
        yield advance


def _when(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ") if value else "-"


def _info_dict(info: CredentialInfo) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for key, value in vars(info).items():
        data[key] = value.isoformat() if isinstance(value, datetime) else list(value) if isinstance(value, tuple) \
            else value
    return data


def _json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, default=str) + "\n")


def _read_stdin_tokens(with_refresh: bool) -> tuple[bytearray, bytearray | None]:
    """The access token (and, with ``with_refresh``, the refresh token on line two) from stdin.

    On a terminal, hidden prompts instead. Our copies are bytearrays, zeroed once they are in a Secret.
    """
    expected = 2 if with_refresh else 1
    if sys.stdin is None:
        _die("no standard input: pipe the access token in (e.g. `readiness vault put … < token.txt`)")
    if sys.stdin.isatty():
        prompts = ["access token (hidden): ", "refresh token (hidden): "][:expected]
        lines = [bytearray(getpass.getpass(prompt).strip().encode()) for prompt in prompts]
    else:
        data = bytearray(sys.stdin.buffer.read())
        try:
            lines = [bytearray(line.strip()) for line in data.splitlines() if line.strip()]
        finally:
            _wipe(data)
    if len(lines) != expected or not all(lines):
        _wipe(*lines)
        if not lines:
            _die("no access token on standard input: pipe it in, e.g. `readiness vault put TENANT PROVIDER "
                 "ACCOUNT < token.txt` (a token is never passed as an argument)")
        _die(f"expected {expected} non-empty line(s) on standard input (the access token"
             + (", then the refresh token)" if with_refresh else "; add --with-refresh for a refresh token on "
                                                                  "line two)")
             + f"; got {len(lines)}")
    return lines[0], lines[1] if with_refresh else None


def _wipe(*buffers: bytearray | None) -> None:
    for buf in buffers:
        if buf is not None:
            buf[:] = bytes(len(buf))


def _parse_expiry(expires_at: str | None, expires_in: int | None, now: datetime) -> datetime | None:
    if expires_at and expires_in is not None:
        _die("give --expires-at or --expires-in, not both")
    if expires_in is not None:
        return now + timedelta(seconds=expires_in)
    if not expires_at:
        return None
    try:
        when = datetime.fromisoformat(expires_at.replace("Z", "+00:00"))
    except ValueError:
        _die(f"--expires-at {expires_at!r}: expected an ISO 8601 time, e.g. 2026-01-31T17:00:00Z")
    return when if when.tzinfo else when.replace(tzinfo=UTC)


# ---------------------------------------------------------------------------------------------- commands


@_command()
def init(db: DbOpt = None, key_source: KeySourceOpt = None) -> None:
    """Create the vault in the database (idempotent): its primary KEK is the key source's primary."""
    from vault.store import Vault

    source = _key_source(key_source)
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


@_command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
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
        _die(f"put takes no token argument: {len(ctx.args)} unexpected argument(s), not shown{shown}. Tokens are "
             "read from standard input only: `readiness vault put TENANT PROVIDER ACCOUNT < token.txt`")
    actor = parse_actor(as_)
    access_buf, refresh_buf = _read_stdin_tokens(with_refresh)
    access, refresh = Secret(access_buf), Secret(refresh_buf) if refresh_buf is not None else None
    try:
        with _open(db, key_source) as vault:
            expiry = _parse_expiry(expires_at, expires_in, vault.clock.now())
            cid = vault.put(actor, tenant, provider, account, access, refresh, expires_at=expiry,
                            scopes=scope or (), credential_id=credential_id)
    finally:
        access.wipe()
        if refresh is not None:
            refresh.wipe()
    sys.stdout.write(cid + "\n")
    err.print(f"stored {provider} credential {cid} for {account} in tenant {tenant}", markup=False)


@_command()
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
    with _open(db, key_source) as vault:
        infos = [i for i in vault.list(actor, tenant) if i.id == credential_id]
        if not infos:
            raise VaultError(f"no credential {credential_id!r} in tenant {tenant!r}")
        info = infos[0]
        data = _info_dict(info)
        if reveal:
            with vault.get(actor, tenant, credential_id) as tokens:
                data["access_token"] = tokens.access_token.reveal()
                data["refresh_token"] = tokens.refresh_token.reveal() if tokens.refresh_token else None
        else:
            data["access_token"] = "***"
            data["refresh_token"] = "***" if info.has_refresh_token else None
    if format is Format.json:
        _json(data)
        return
    table = Table("field", "value", show_header=False)
    for key in ("id", "tenant", "provider", "account", "state", "scopes", "expires_at", "token_fingerprint",
                "access_token", "refresh_token", "dek_version", "refresh_due_at", "last_refresh_at",
                "last_refresh_error", "failures", "created_at", "updated_at"):
        value = data.get(key)
        table.add_row(key, ", ".join(value) if isinstance(value, list) else "-" if value is None else str(value))
    out.print(table, markup=False)
    if not reveal:
        err.print("tokens masked; add --reveal to decrypt (needs admin, or service for this tenant; audited)",
                  markup=False)


@_command("list")
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
    with _open(db, key_source) as vault:
        infos = vault.list(actor, tenant, provider)
    if format is Format.json:
        _json([_info_dict(i) for i in infos])
        return
    if not infos:
        out.print("no credentials" + (f" in tenant {tenant}" if tenant else ""), markup=False)
        return
    table = Table("id", "tenant", "provider", "account", "state", "expires", "refresh", "fingerprint", "dek")
    for i in infos:
        table.add_row(i.id, i.tenant, i.provider, i.account, i.state, _when(i.expires_at),
                      "yes" if i.has_refresh_token else "no", i.token_fingerprint, f"v{i.dek_version}")
    out.print(table, markup=False)


@_command()
def revoke(
    tenant: Annotated[str, typer.Argument(help="Tenant id")],
    credential_id: Annotated[str, typer.Argument(help="Credential id")],
    db: DbOpt = None,
    key_source: KeySourceOpt = None,
    as_: ActorOpt = None,
) -> None:
    """Mark a credential revoked and erase its ciphertexts (the provider's own revocation is separate)."""
    actor = parse_actor(as_)
    with _open(db, key_source) as vault:
        vault.revoke(actor, tenant, credential_id)
    out.print(f"revoked {credential_id} in tenant {tenant}", markup=False)


@_command("rotate-key")
def rotate_key(
    retire_old: Annotated[
        bool, typer.Option("--retire-old", help="After a complete rotation, make the vault forget the older keys")
    ] = False,
    batch: Annotated[int, typer.Option(help="Data keys per transaction")] = 500,
    db: DbOpt = None,
    key_source: KeySourceOpt = None,
    as_: ActorOpt = None,
) -> None:
    """Rewrap every tenant's data key under the key source's primary KEK (resumable; needs admin).

    To rotate the KEK with the env key source: generate a new key, make it TOKEN_VAULT_ENCRYPTION_KEY and
    move the old one to TOKEN_VAULT_PREVIOUS_KEYS (comma-separated), then run this. With a key file, put the
    new key on the first line and keep the old one below it; with Secret Manager, add a new secret version
    and keep the old one enabled. When it completes, --retire-old (or a later run with it) makes the vault
    forget the old keys; then remove them from the key source. Tokens are not re-encrypted: see `rewrap`.
    """
    actor = parse_actor(as_)
    with _open(db, key_source) as vault, _progress("rewrapping data keys") as progress:
        report = vault.rotate_kek(actor, progress=progress, batch=batch)
        ring: KeyRing = vault._ring()
        retired: list[str] = []
        if retire_old and report.complete:
            for kek in ring.others:
                try:
                    vault.remove_kek(actor, kek.fingerprint)
                    retired.append(kek.fingerprint)
                except KeyUnavailable:
                    raise
                except VaultError as exc:
                    if "is not a KEK this vault knows" not in str(exc):
                        raise
    state = "complete" if report.complete else f"incomplete: {report.remaining} left, run it again"
    out.print(f"KEK rotation to {report.target}: {report.rewritten} of {report.total} rewrapped ({state})",
              markup=False)
    for fp in retired:
        out.print(f"the vault forgot {fp}: remove it from the key source (e.g. TOKEN_VAULT_PREVIOUS_KEYS)",
                  markup=False)
    if report.complete and ring.others and not retire_old:
        err.print("the older key(s) are no longer needed by the vault: rerun with --retire-old, then drop them "
                  "from the key source", markup=False)
    if not report.complete:
        raise typer.Exit(1)


@_command()
def rewrap(
    tenant: Annotated[str | None, typer.Argument(help="Tenant id (or --all)")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Every tenant that holds credentials")] = False,
    batch: Annotated[int, typer.Option(help="Credentials per transaction")] = 500,
    db: DbOpt = None,
    key_source: KeySourceOpt = None,
    as_: ActorOpt = None,
) -> None:
    """Give a tenant a new data key and re-seal its tokens under it (DEK rotation; resumable; needs admin)."""
    if bool(tenant) == all_:
        _die("name one TENANT, or pass --all")
    actor = parse_actor(as_)
    with _open(db, key_source) as vault:
        tenants = [tenant] if tenant else sorted({i.tenant for i in vault.list(actor)})
        incomplete = 0
        for name in tenants:
            with _progress(f"re-sealing {name}") as progress:
                report = vault.rotate_dek(actor, name, progress=progress, batch=batch)
            state = "complete" if report.complete else f"incomplete: {report.remaining} left, run it again"
            retired = f"; retired {', '.join(report.retired)}" if report.retired else ""
            out.print(f"{report.target}: {report.rewritten} of {report.total} credentials re-sealed ({state}){retired}",
                      markup=False)
            incomplete += not report.complete
    if not tenants:
        out.print("no tenant holds credentials: nothing to rewrap", markup=False)
    if incomplete:
        raise typer.Exit(1)


@_command()
def refresh(
    format: FormatOpt = Format.table,
    db: DbOpt = None,
    key_source: KeySourceOpt = None,
    as_: ActorOpt = None,
) -> None:
    """One refresher cycle: renew every due access token through its provider (needs admin or service).

    Provider clients come from GOOGLE_OAUTH_CLIENT_ID/_SECRET, MICROSOFT_OAUTH_CLIENT_ID/_SECRET with
    MICROSOFT_TENANT_ID, and GHL_OAUTH_CLIENT_ID/_SECRET; READINESS_STANDINS_URL sends the calls to the
    stand-ins. Exit 1 when a credential failed or needs the user to sign in again.
    """
    from vault.redact import install
    from vault.refresh import Refresher, standins_rewriter
    from vault.refresh_endpoints import endpoints_from_env

    actor = parse_actor(as_)
    endpoints = endpoints_from_env()
    if not endpoints:
        _die("no provider client configured: set GOOGLE_OAUTH_CLIENT_ID and GOOGLE_OAUTH_CLIENT_SECRET (or the "
             "MICROSOFT_ / GHL_ pairs) so the refresher can call the token endpoints")
    # The refresher logs (its warnings, httpx's requests): scrub them, client secrets included. On the root
    # logger's handlers, and on the refresher's own logger for records no handler takes (Python's last resort).
    redacting = install()
    install(logging.getLogger("vault.refresh"), redacting)
    for endpoint in endpoints.values():
        redacting.add(endpoint.client_secret.reveal())
        redacting.add(f"{endpoint.client_id}:{endpoint.client_secret.reveal()}")
    with _open(db, key_source) as vault, _progress("refreshing") as progress:
        rewriter = standins_rewriter(os.environ.get("READINESS_STANDINS_URL") or None)
        with Refresher(vault, actor, endpoints=endpoints, url_rewriter=rewriter) as refresher:
            report = refresher.run_once(progress=progress)
    if format is Format.json:
        _json(report.as_dict())
    else:
        out.print(f"refreshed {report.refreshed}, skipped {report.skipped_already_fresh}, needs re-auth "
                  f"{report.needs_reauth}, backed off {report.backed_off}, errors {report.errors} "
                  f"({report.claimed} claimed by {report.owner})", markup=False)
        for o in report.outcomes:
            if o.result != "refreshed":
                out.print(f"  {o.result}: {o.provider} {o.account} ({o.tenant}) {o.detail or ''}".rstrip(),
                          markup=False)
    if report.errors or report.needs_reauth:
        raise typer.Exit(1)


@_command()
def audit(
    verify: Annotated[bool, typer.Option(
        "--verify", help="Verify the HMAC chain, every row's MAC and audit seq, and the external anchor "
                         "(TOKEN_VAULT_AUDIT_ANCHOR) when set; exit 1 when broken")] = False,
    limit: Annotated[int, typer.Option("--limit", help="How many of the latest entries to show")] = 20,
    tenant: Annotated[str | None, typer.Option("--tenant", help="Only this tenant's entries")] = None,
    format: FormatOpt = Format.table,
    db: DbOpt = None,
    key_source: KeySourceOpt = None,
    as_: ActorOpt = None,
) -> None:
    """The latest audit entries (needs admin or auditor); --verify checks the whole chain."""
    actor = parse_actor(as_)
    with _open(db, key_source) as vault:
        if verify:
            report = vault.verify_audit(actor)
            if format is Format.json:
                _json({"ok": report.ok, "checked": report.checked, "head_seq": report.head_seq,
                       "first_bad_seq": report.first_bad_seq, "reason": report.reason,
                       "external_anchor": report.external})
            elif report.ok:
                out.print(f"OK: {report.summary}", markup=False)
            else:
                out.print(f"BROKEN: {report.summary}", markup=False)
            if not report.ok:
                raise typer.Exit(1)
            return
        events = vault.audit_events(actor, limit, tenant=tenant)
    if format is Format.json:
        _json([{**vars(e), "at": e.at.isoformat()} for e in events])
        return
    table = Table("seq", "at", "actor", "role", "op", "tenant", "target", "outcome", "detail")
    for e in events:
        style = {"denied": "yellow", "error": "red"}.get(e.outcome, "")
        table.add_row(str(e.seq), _when(e.at), escape(e.actor), e.role, e.op, escape(e.tenant or "-"),
                      escape(e.target or "-"),
                      f"[{style}]{e.outcome}[/]" if style else e.outcome,
                      escape(json.dumps(e.detail, sort_keys=True)[:120]))
    out.print(table)


@_command("self-test")
def self_test(
    format: FormatOpt = Format.table,
    scratch_only: Annotated[
        bool, typer.Option("--scratch-only", help="Skip loading the configured key source")
    ] = False,
    key_source: KeySourceOpt = None,
) -> None:
    """Known-answer AES-256-GCM, round trip, tamper and cross-tenant refusals, rotation, audit, redaction.

    Runs on a scratch vault with random keys (the configured database is not touched) and loads the
    configured key source (fingerprints only). Exit 1 when any check fails.
    """
    import vault.selftest as selftest

    source: KeySource | None = None
    if not scratch_only:
        try:
            source = _key_source(key_source)
        except KeyUnavailable as exc:
            source = _Unavailable(exc)
    report = selftest.run(source)
    if format is Format.json:
        _json(report.to_dict())
    else:
        table = Table("check", "result", "ms", "detail")
        for r in report.results:
            table.add_row(r.name, "[green]pass[/]" if r.passed else "[red]FAIL[/]", f"{r.duration_ms:.1f}",
                          escape(r.detail))
        out.print(table)
        out.print(f"self-test {'passed' if report.ok else 'FAILED'}: {len(report.results) - len(report.failed)} "
                  f"of {len(report.results)} checks in {report.duration_ms:.0f} ms", markup=False)
    if not report.ok:
        raise typer.Exit(1)


class _Unavailable:
    """A key source that could not even be built (a bad TOKEN_VAULT_KEY_SOURCE): loading it says why."""

    name = "unconfigured"

    def __init__(self, error: KeyUnavailable) -> None:
        self._error = error

    def load(self) -> KeyRing:
        raise self._error
