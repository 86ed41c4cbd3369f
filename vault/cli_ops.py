"""``readiness vault refresh``, ``audit`` and ``self-test``: running the vault from the command line."""

from __future__ import annotations

import json
import logging
import os
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
    make_key_source,
    open_vault,
    out,
    parse_actor,
    print_json,
    progress_bar,
    shown_when,
)
from vault.cli_console import escape
from vault.errors import KeyUnavailable

if TYPE_CHECKING:
    from vault.keys import KeyRing, KeySource


@command()
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
        die(
            "no provider client configured: set GOOGLE_OAUTH_CLIENT_ID and GOOGLE_OAUTH_CLIENT_SECRET (or the "
            "MICROSOFT_ / GHL_ pairs) so the refresher can call the token endpoints"
        )
    # The refresher logs (its warnings, httpx's requests): scrub them, client secrets included. On the root
    # logger's handlers, and on the refresher's own logger for records no handler takes (Python's last resort).
    redacting = install()
    install(logging.getLogger("vault.refresh"), redacting)
    for endpoint in endpoints.values():
        redacting.add(endpoint.client_secret.reveal())
        redacting.add(f"{endpoint.client_id}:{endpoint.client_secret.reveal()}")
    with open_vault(db, key_source) as vault, progress_bar("refreshing") as progress:
        rewriter = standins_rewriter(os.environ.get("READINESS_STANDINS_URL") or None)
        with Refresher(vault, actor, endpoints=endpoints, url_rewriter=rewriter) as refresher:
            report = refresher.run_once(progress=progress)
    if format is Format.json:
        print_json(report.as_dict())
    else:
        out.print(
            f"refreshed {report.refreshed}, skipped {report.skipped_already_fresh}, needs re-auth "
            f"{report.needs_reauth}, backed off {report.backed_off}, errors {report.errors} "
            f"({report.claimed} claimed by {report.owner})",
            markup=False,
        )
        for o in report.outcomes:
            if o.result != "refreshed":
                out.print(
                    f"  {o.result}: {o.provider} {o.account} ({o.tenant}) {o.detail or ''}".rstrip(), markup=False
                )
    if report.errors or report.needs_reauth:
        raise typer.Exit(1)


@command()
def audit(
    verify: Annotated[
        bool,
        typer.Option(
            "--verify",
            help="Verify the HMAC chain, every row's MAC and audit seq, and the external anchor "
            "(TOKEN_VAULT_AUDIT_ANCHOR) when set; exit 1 when broken",
        ),
    ] = False,
    limit: Annotated[int, typer.Option("--limit", help="How many of the latest entries to show")] = 20,
    tenant: Annotated[str | None, typer.Option("--tenant", help="Only this tenant's entries")] = None,
    format: FormatOpt = Format.table,
    db: DbOpt = None,
    key_source: KeySourceOpt = None,
    as_: ActorOpt = None,
) -> None:
    """The latest audit entries (needs admin or auditor); --verify checks the whole chain."""
    actor = parse_actor(as_)
    with open_vault(db, key_source) as vault:
        if verify:
            report = vault.verify_audit(actor)
            if format is Format.json:
                print_json(
                    {
                        "ok": report.ok,
                        "checked": report.checked,
                        "head_seq": report.head_seq,
                        "first_bad_seq": report.first_bad_seq,
                        "reason": report.reason,
                        "external_anchor": report.external,
                    }
                )
            elif report.ok:
                out.print(f"OK: {report.summary}", markup=False)
            else:
                out.print(f"BROKEN: {report.summary}", markup=False)
            if not report.ok:
                raise typer.Exit(1)
            return
        events = vault.audit_events(actor, limit, tenant=tenant)
    if format is Format.json:
        print_json([{**vars(e), "at": e.at.isoformat()} for e in events])
        return
    from rich.table import Table  # only where a table is drawn

    table = Table("seq", "at", "actor", "role", "op", "tenant", "target", "outcome", "detail")
    for e in events:
        style = {"denied": "yellow", "error": "red"}.get(e.outcome, "")
        table.add_row(
            str(e.seq),
            shown_when(e.at),
            escape(e.actor),
            e.role,
            e.op,
            escape(e.tenant or "-"),
            escape(e.target or "-"),
            f"[{style}]{e.outcome}[/]" if style else e.outcome,
            escape(json.dumps(e.detail, sort_keys=True)[:120]),
        )
    out.print(table)


@command("self-test")
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
            source = make_key_source(key_source)
        except KeyUnavailable as exc:
            source = _Unavailable(exc)
    report = selftest.run(source)
    if format is Format.json:
        print_json(report.to_dict())
    else:
        from rich.table import Table  # only where a table is drawn

        table = Table("check", "result", "ms", "detail")
        for r in report.results:
            table.add_row(
                r.name, "[green]pass[/]" if r.passed else "[red]FAIL[/]", f"{r.duration_ms:.1f}", escape(r.detail)
            )
        out.print(table)
        out.print(
            f"self-test {'passed' if report.ok else 'FAILED'}: {len(report.results) - len(report.failed)} "
            f"of {len(report.results)} checks in {report.duration_ms:.0f} ms",
            markup=False,
        )
    if not report.ok:
        raise typer.Exit(1)


class _Unavailable:
    """A key source that could not even be built (a bad TOKEN_VAULT_KEY_SOURCE): loading it says why."""

    name = "unconfigured"

    def __init__(self, error: KeyUnavailable) -> None:
        self._error = error

    def load(self) -> KeyRing:
        raise self._error
