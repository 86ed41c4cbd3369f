"""The refresher: renews OAuth access tokens before they expire, safely from any number of processes.

One :meth:`Refresher.run_once` is a cycle::

    claim  ── one transaction: due rows, FOR UPDATE SKIP LOCKED (PostgreSQL) ──> lease_owner, lease_until
    │         (SQLite: compare-and-set on id, version and an expired lease)
    for each claimed credential:
      re-read ── one transaction: still ours? still due? (another worker may have refreshed it) ──> skip
      │          else renew the lease, mark the refresh in flight (``last_refresh_error`` = "refresh in
      │          flight since … (owner)"), commit, and open the refresh token
      call    ── the provider's token endpoint, outside any transaction and row lock (httpx, a timeout)
      settle  ── one short transaction the moment the answer is read, audited (vault.refresh_answer
                 classifies it and keeps no provider text raw):
                 200  new access token, the rotated refresh token (or the old one: never wiped), new expiry,
                      version + 1, lease and marker cleared; compare-and-set on the version we read or the
                      refresh token we sent, so a worker that lost its lease cannot overwrite newer tokens
                                                                                           -> ``refreshed``
                 429  next_attempt_at = now + Retry-After                                  -> ``backed_off``
                 5xx, timeout, not JSON: exponential backoff with full jitter              -> ``backed_off``
                 invalid_grant: re-read first; a different refresh token means another worker won
                      (``superseded``), else state ``needs_reauth``; if an earlier cycle's in-flight marker
                      was still there, the error says the refresh was interrupted      -> ``needs_reauth``
                 anything else (invalid_client, …): backoff too, counted as an error       -> ``error``

**The crash window.** A provider that rotates refresh tokens and retires the used one (GHL) makes the
time between its answer and our commit irreducible: if the process dies there, the only live refresh
token died with it. The refresher keeps the window to one short transaction written as soon as the answer
is read (retried at once on a database hiccup), and marks every call in flight, so the ``invalid_grant``
that follows such a crash is reported as "invalid_grant after an interrupted refresh …; re-authorise"
(see docs/vault.md, "The refresher's crash window").

**Due**: a credential is due at its ``refresh_due_at``: ``lead`` (10 minutes) before expiry, or at 80 % of
the token's lifetime when that is later (a 20-minute token at minute 16, not at minute 10), see
:func:`vault.refresh_settle.due_at`. ``put`` schedules with the default lead
(:func:`vault.store_values.refresh_due`, the same rule); each refresh schedules the next with the refresher's
``lead``. Only when ``next_attempt_at`` has passed, nobody holds an unexpired lease, its state is ``active``,
it has a refresh token and its provider has an endpoint here.

**Leases** are written without bumping the row ``version`` (they are guarded by their own predicate), so
``version`` changes only when tokens or refresh state do: a changed version after the claim means somebody
else (``put``, ``revoke``, ``rotate_dek``, another refresher) wrote the row.

Nothing here logs, stores or raises a token: the audit log gets HMAC fingerprints only, the database g

The cycle (claim, prepare, call) is here; recording what the provider answered is in
:mod:`vault.refresh_settle`, the provider endpoints in :mod:`vault.refresh_endpoints`, the report in
:mod:`vault.refresh_report`, and the wait before the next attempt is the one retry policy of
:mod:`vault.retry`.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import httpx
import sqlalchemy as sa

from vault.errors import VaultError
from vault.models import Credential
from vault.rbac import Actor, Op
from vault.refresh_answer import MIN_DELAY, Answer, classify
from vault.refresh_endpoints import USER_AGENT, ProviderEndpoint, standins_rewriter
from vault.refresh_report import COUNTERS, Claim, PreparedRefresh, RefreshOutcome, RefreshReport
from vault.refresh_settle import DEFAULT_LEAD, IN_FLIGHT, RefreshSettle
from vault.retry import RetryPolicy
from vault.secret import Secret
from vault.store import Vault
from vault.store_values import Clock

__all__ = ["ProviderEndpoint", "Refresher", "standins_rewriter"]

log = logging.getLogger("vault.refresh")

_C: sa.Table = Credential.metadata.tables["credentials"]


class Refresher(RefreshSettle):
    """Refreshes due credentials of ``vault`` through ``endpoints`` (provider name -> :class:`ProviderEndpoint`).

    Run :meth:`run_once` on a schedule (``readiness vault refresh``, ``readiness watch``); any number of
    refreshers may share one PostgreSQL vault. ``actor`` needs the ``refresh`` permission; a scoped actor
    only touches its tenants. ``http`` is an :class:`httpx.Client` to use (closed by its owner), else the
    refresher makes one (closed by :meth:`close`). ``clock`` defaults to the vault's. ``rng`` drives the
    backoff jitter. ``url_rewriter`` maps real token URLs to stand-ins (:func:`standins_rewriter`).
    """

    def __init__(
        self,
        vault: Vault,
        actor: Actor,
        *,
        http: httpx.Client | None = None,
        clock: Clock | None = None,
        endpoints: Mapping[str, ProviderEndpoint],
        lead: timedelta = DEFAULT_LEAD,
        lease: timedelta = timedelta(minutes=2),
        owner: str | None = None,
        batch: int = 50,
        timeout: float = 10.0,
        base_backoff: timedelta = timedelta(seconds=30),
        max_backoff: timedelta = timedelta(hours=1),
        rng: random.Random | None = None,
        url_rewriter: Callable[[str], str] | None = None,
        progress: Callable[[int, int], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if batch < 1:
            raise ValueError("batch must be at least 1")
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        if lease <= timedelta(seconds=2 * timeout):
            raise ValueError(
                f"lease ({lease}) must be longer than twice the HTTP timeout ({timeout} s), or a "
                "slow provider lets another worker take the credential mid-refresh"
            )
        if lead <= timedelta(0) or base_backoff <= timedelta(0) or max_backoff < base_backoff:
            raise ValueError("lead and base_backoff must be positive, and max_backoff at least base_backoff")
        self.vault = vault
        self.actor = actor
        self.clock: Clock = clock or vault.clock
        self.endpoints = dict(endpoints)
        self.lead = lead
        self.lease = lease
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.batch = batch
        self.timeout = timeout
        self.base_backoff = base_backoff
        self.max_backoff = max_backoff
        self.rng = rng or random.Random()
        self.retry_policy = RetryPolicy(base_backoff, max_backoff, floor=MIN_DELAY, rng=self.rng)
        self.url_rewriter = url_rewriter or (lambda url: url)
        self.progress = progress
        self.sleep = sleep  # the short pause between tries at storing new tokens (a test records it)
        self._own_http = http is None
        self.http = http or httpx.Client(timeout=timeout, headers={"User-Agent": USER_AGENT}, follow_redirects=False)

    def close(self) -> None:
        """Close the HTTP client if the refresher made it."""
        if self._own_http:
            self.http.close()

    def __enter__(self) -> Refresher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Refresher(owner={self.owner!r}, providers={sorted(self.endpoints)})"

    # ------------------------------------------------------------------------------------------ the cycle

    def run_once(self, progress: Callable[[int, int], None] | None = None) -> RefreshReport:
        """Claim and refresh every credential due now, ``batch`` claims at a time, until none is left.

        ``progress(done, total)`` (or the constructor's) is called at the start, after each credential, and
        once at the end; ``total`` is what was claimable when the run started (other workers may take some,
        so the last call reports ``done`` of ``done``). Failures are outcomes in the report, not exceptions;
        only a denied actor (:class:`~vault.errors.AccessDenied`) or an unusable vault raises.
        """
        self.vault.authorize(self.actor, Op.REFRESH, None, None)
        progress = progress or self.progress
        started = self.clock.now()
        outcomes: list[RefreshOutcome] = []
        seen: set[str] = set()
        total = self.count_due() if progress else 0
        if progress:
            progress(0, total)
        while True:
            claims = self._claim()
            fresh = [c for c in claims if c.id not in seen]
            if len(fresh) < len(claims):  # a row that came due again within this run: leave it to the next
                self._release([c for c in claims if c.id in seen])
            if not fresh:
                break
            pending = list(fresh)
            try:
                while pending:
                    claim = pending[0]
                    outcome = self._process(claim)
                    pending.pop(0)
                    seen.add(claim.id)
                    outcomes.append(outcome)
                    if progress:
                        progress(len(outcomes), max(total, len(outcomes)))
            except BaseException:  # interrupted (Ctrl-C, a failing callback): give back what was not done
                self._release(pending)
                raise
        if progress and len(outcomes) != total:
            progress(len(outcomes), len(outcomes))
        counts = dict.fromkeys(set(COUNTERS.values()), 0)
        for outcome in outcomes:
            counts[COUNTERS[outcome.result]] += 1
        report = RefreshReport(self.owner, started, self.clock.now(), outcomes=tuple(outcomes), **counts)
        if outcomes:
            log.info(
                "refresh run by %s: %d refreshed, %d skipped, %d needs_reauth, %d backed off, %d errors",
                self.owner,
                report.refreshed,
                report.skipped_already_fresh,
                report.needs_reauth,
                report.backed_off,
                report.errors,
            )
        return report

    def refresh_one(self, credential_id: str) -> RefreshOutcome | None:
        """Refresh one credential now if it is due and nobody holds its lease (the vault service's on-demand
        refresh, :mod:`vault.service_refresh`). ``None`` when it could not be claimed: not due, not refreshable,
        backing off, or leased by another worker (another replica refreshing it right now)."""
        self.vault.authorize(self.actor, Op.REFRESH, None, credential_id)
        claims = self._claim(only=credential_id)
        if not claims:
            return None
        return self._process(claims[0])

    def count_due(self) -> int:
        """How many credentials this refresher could claim now (for progress bars and dashboards)."""
        with self.vault._begin() as conn:
            return int(
                conn.execute(
                    sa.select(sa.func.count()).select_from(_C).where(*self._due(self.clock.now()))
                ).scalar_one()
            )

    def _due(self, now: datetime) -> list[sa.ColumnElement[bool]]:
        c = _C.c
        conds: list[sa.ColumnElement[bool]] = [
            c.state == "active",
            c.refresh_ct.is_not(None),
            c.provider.in_(sorted(self.endpoints)),
            c.refresh_due_at.is_not(None),
            c.refresh_due_at <= now,
            sa.or_(c.next_attempt_at.is_(None), c.next_attempt_at <= now),
            sa.or_(c.lease_until.is_(None), c.lease_until < now),
        ]
        if self.actor.tenants is not None:
            conds.append(c.tenant.in_(sorted(self.actor.tenants)))
        return conds

    @staticmethod
    def _is_due(row: Any, now: datetime) -> bool:
        return row.refresh_due_at is not None and bool(row.refresh_due_at <= now)

    # -------------------------------------------------------------------------------------------- claiming

    def _claim(self, only: str | None = None) -> list[Claim]:
        """Lease up to ``batch`` due credentials in one transaction.

        PostgreSQL: ``SELECT … FOR UPDATE SKIP LOCKED`` so concurrent claimers take disjoint rows without
        waiting; the lease predicate is re-checked on the locked row. SQLite (the write lock is held from
        ``BEGIN IMMEDIATE``): the same select, then a compare-and-set on (id, version, expired lease).
        """
        now = self.clock.now()
        until = now + self.lease
        c = _C.c
        claims: list[Claim] = []
        with self.vault._begin() as conn:
            rows = conn.execute(
                sa.select(c.id, c.tenant, c.provider, c.account, c.version)
                .where(*self._due(now), *([c.id == only] if only is not None else []))
                .order_by(c.refresh_due_at, c.id)
                .limit(self.batch)
                .with_for_update(skip_locked=True)
            ).all()
            for row in rows:
                taken = conn.execute(
                    _C.update()
                    .where(
                        c.id == row.id, c.version == row.version, sa.or_(c.lease_until.is_(None), c.lease_until < now)
                    )
                    .values(lease_owner=self.owner, lease_until=until)
                ).rowcount
                if taken == 1:
                    claims.append(Claim(row.id, row.tenant, row.provider, row.account))
        return claims

    def _release(self, claims: Sequence[Claim]) -> None:
        """Best effort: give back leases not used (an interrupted run), so others need not wait them out."""
        if not claims:
            return
        try:
            with self.vault._begin() as conn:
                conn.execute(
                    _C.update()
                    .where(_C.c.id.in_([c.id for c in claims]), _C.c.lease_owner == self.owner)
                    .values(lease_owner=None, lease_until=None)
                )
        except Exception as exc:
            log.warning(
                "could not release %d refresh leases (%s); they expire on their own", len(claims), type(exc).__name__
            )

    # ------------------------------------------------------------------------------------------ processing

    def _process(self, claim: Claim) -> RefreshOutcome:
        endpoint = self.endpoints[claim.provider]
        prepared: PreparedRefresh | None = None
        answer: Answer | None = None
        try:
            ready = self._prepare(claim)
            if isinstance(ready, RefreshOutcome):
                return ready
            prepared = ready
            answer = self._call(endpoint, prepared)
            return self._settle(claim, prepared, answer)
        except (VaultError, sa.exc.SQLAlchemyError) as exc:
            detail = f"vault: {type(exc).__name__}"
            log.warning("refresh of credential %s failed inside the vault (%s)", claim.id, type(exc).__name__)
            return self._fail(claim, "error", detail, None, None, audit_only=isinstance(exc, sa.exc.SQLAlchemyError))
        finally:
            if prepared is not None:
                prepared.refresh_token.wipe()
            if answer is not None:
                answer.wipe()

    def _prepare(self, claim: Claim) -> PreparedRefresh | RefreshOutcome:
        """Re-read the claimed row: skip it if another worker already refreshed it or took it over; else
        renew the lease, mark the refresh in flight (``last_refresh_error`` = :data:`IN_FLIGHT` …) and open
        the refresh token. The marker is committed before the call and replaced by whatever outcome is
        recorded; one still there at the next claim means a cycle died (or lost its lease) mid-call."""
        ring = self.vault._ring()
        with self.vault._begin() as conn:
            row = self._select_row(conn, claim.id)
            now = self.clock.now()
            if row is not None:
                self.vault._rows(conn, ring).check_credential(row)
            if row is None or row.state != "active" or not row.refresh_ct:
                shown = "gone" if row is None else row.state
                self._audit(conn, ring, claim, "ok", {"result": "superseded", "state": shown})
                return claim.outcome("superseded", detail=f"credential is {shown}")
            if row.lease_owner != self.owner:
                result = "lost_lease" if self._is_due(row, now) else "already_fresh"
                self._audit(conn, ring, claim, "ok", {"result": result, "lease_owner": row.lease_owner})
                return claim.outcome(
                    result,
                    detail="another worker took it over"
                    if result == "lost_lease"
                    else "another worker refreshed it first",
                )
            if not self._is_due(row, now):
                conn.execute(
                    _C.update()
                    .where(_C.c.id == claim.id, _C.c.lease_owner == self.owner)
                    .values(lease_owner=None, lease_until=None)
                )
                self._audit(conn, ring, claim, "ok", {"result": "already_fresh"})
                return claim.outcome("already_fresh", detail="already refreshed")
            earlier = row.last_refresh_error if (row.last_refresh_error or "").startswith(IN_FLIGHT) else None
            marker = f"{IN_FLIGHT} since {now.isoformat(timespec='seconds')} ({self.owner}); no outcome recorded yet"
            conn.execute(
                _C.update()
                .where(_C.c.id == claim.id, _C.c.lease_owner == self.owner)
                .values(lease_until=now + self.lease, last_refresh_error=marker)
            )
            dek = self.vault._dek_for(conn, ring, row.tenant, row.dek_version)
            plain = self.vault._open_field(
                dek, row.tenant, row.provider, row.id, "refresh", row.dek_version, row.refresh_ct
            )
            return PreparedRefresh(row.version, Secret(plain), list(row.scopes or []), row.token_fingerprint, earlier)

    def _call(self, endpoint: ProviderEndpoint, prepared: PreparedRefresh) -> Answer:
        """POST the refresh grant; classify the answer. Never raises for what the network or provider does."""
        form = {
            "grant_type": "refresh_token",
            "refresh_token": prepared.refresh_token.reveal(),
            "client_id": endpoint.client_id,
            "client_secret": endpoint.client_secret.reveal(),
        }
        if endpoint.send_scope and prepared.scopes:
            form["scope"] = " ".join(prepared.scopes)
        try:
            url = self.url_rewriter(endpoint.token_url)
            response = self.http.post(
                url, data=form, timeout=self.timeout, headers={"User-Agent": USER_AGENT, "Accept": "application/json"}
            )
        except httpx.TimeoutException:
            return Answer("transient", f"timeout after {self.timeout:g} s calling the token endpoint")
        except httpx.HTTPError as exc:
            return Answer("transient", f"{type(exc).__name__} calling the token endpoint")
        except (httpx.InvalidURL, ValueError) as exc:
            return Answer("error", f"unusable token endpoint URL ({type(exc).__name__})")
        finally:
            form.clear()
        return classify(
            response,
            refresh_token=prepared.refresh_token,
            client_id=endpoint.client_id,
            client_secret=endpoint.client_secret,
            now=self.clock.now(),
        )
