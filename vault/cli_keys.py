"""``readiness vault rotate-key`` and ``rewrap``: key rotation from the command line."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from vault.cli_common import (
    ActorOpt,
    DbOpt,
    KeySourceOpt,
    command,
    die,
    err,
    open_vault,
    out,
    parse_actor,
    progress_bar,
)
from vault.errors import KeyUnavailable, VaultError

if TYPE_CHECKING:
    from vault.keys import KeyRing


@command("rotate-key")
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
    with open_vault(db, key_source) as vault, progress_bar("rewrapping data keys") as progress:
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
    out.print(
        f"KEK rotation to {report.target}: {report.rewritten} of {report.total} rewrapped ({state})", markup=False
    )
    for fp in retired:
        out.print(
            f"the vault forgot {fp}: remove it from the key source (e.g. TOKEN_VAULT_PREVIOUS_KEYS)", markup=False
        )
    if report.complete and ring.others and not retire_old:
        err.print(
            "the older key(s) are no longer needed by the vault: rerun with --retire-old, then drop them "
            "from the key source",
            markup=False,
        )
    if not report.complete:
        raise typer.Exit(1)


@command()
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
        die("name one TENANT, or pass --all")
    actor = parse_actor(as_)
    with open_vault(db, key_source) as vault:
        tenants = [tenant] if tenant else sorted({i.tenant for i in vault.list(actor)})
        incomplete = 0
        for name in tenants:
            with progress_bar(f"re-sealing {name}") as progress:
                report = vault.rotate_dek(actor, name, progress=progress, batch=batch)
            state = "complete" if report.complete else f"incomplete: {report.remaining} left, run it again"
            retired = f"; retired {', '.join(report.retired)}" if report.retired else ""
            out.print(
                f"{report.target}: {report.rewritten} of {report.total} credentials re-sealed ({state}){retired}",
                markup=False,
            )
            incomplete += not report.complete
    if not tenants:
        out.print("no tenant holds credentials: nothing to rewrap", markup=False)
    if incomplete:
        raise typer.Exit(1)
