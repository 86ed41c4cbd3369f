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
:func:`due_at`. ``put`` schedules with the default lead (:func:`vault.store_values.refresh_due`, the same rule);
each refresh schedules the next with the refresher's ``lead``. Only when ``next_attempt_at`` has passed,
nobody holds an unexpired lease, its state is ``active``, it has a refresh token and its provider has an
endpoint here.

**Leases** are written without bumping the row ``version`` (they are guarded by their own predicate), so
``version`` changes only when tokens or refresh state do: a changed version after the claim means somebody
else (``put``, ``revoke``, ``rotate_dek``, another refresher) wrote the row.

Nothing here logs, stores or raises a token: the audit log gets HMAC fingerprints only, the database gets
ciphertexts, and ``last_refresh_error`` gets the OAuth error code, the HTTP status and a scrubbed, cut
description (:mod:`vault.refresh_answer`).
"""

from __future__ import annotations

import hmac
import logging
import os
import random
import socket
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
import sqlalchemy as sa

from vault.errors import VaultError
from vault.integrity import CREDENTIAL_COLUMNS
from vault.keys import KeyRing
from vault.models import Credential, utc
from vault.rbac import Actor, Op
from vault.refresh_answer import Answer, classify
from vault.secret import Secret
from vault.store import Vault
from vault.store_values import Clock

__all__ = [
    "GHL_TOKEN_URL",
    "GOOGLE_TOKEN_URL",
    "IN_FLIGHT",
    "MICROSOFT_TOKEN_URL",
    "USER_AGENT",
    "ProviderEndpoint",
    "RefreshOutcome",
    "RefreshReport",
    "Refresher",
    "due_at",
    "endpoints_from_env",
    "standins_rewriter",
]

log = logging.getLogger("vault.refresh")

GOOGLE_TOKEN_URL = "https://oauth2.googleapis.com/token"
MICROSOFT_TOKEN_URL = "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token"
GHL_TOKEN_URL = "https://services.leadconnectorhq.com/oauth/token"
USER_AGENT = "readiness-vault-refresher/1"

DEFAULT_LEAD = timedelta(minutes=10)
_MIN_DELAY = timedelta(seconds=1)
_STORE_TRIES = 3
IN_FLIGHT = "refresh in flight"
"""How ``last_refresh_error`` starts while a refresh call is out (set before the call, replaced by the outcome)."""

_C: sa.Table = Credential.metadata.tables["credentials"]
_ROW_COLUMNS = (
    *CREDENTIAL_COLUMNS, _C.c.version, _C.c.lease_owner, _C.c.lease_until, _C.c.refresh_due_at, _C.c.failures,
    _C.c.last_refresh_error,
)

# Outcome names, and the report counter each one adds to.
_COUNTERS = {
    "refreshed": "refreshed",
    "already_fresh": "skipped_already_fresh",
    "lost_lease": "skipped_already_fresh",
    "superseded": "skipped_already_fresh",
    "needs_reauth": "needs_reauth",
    "backed_off": "backed_off",
    "error": "errors",
}


# ---------------------------------------------------------------------------------------------- endpoints


@dataclass(frozen=True, eq=False, repr=False)
class ProviderEndpoint:
    """Where and as whom to refresh one provider's tokens.

    ``client_id`` stays plain text: it is public (every authorization URL carries it) and the providers'
    errors name it. ``client_secret`` is a :class:`Secret`. ``token_url`` is the real provider URL; the
    refresher passes it through its ``url_rewriter`` (stand-ins) before use.
    """

    token_url: str
    client_id: str
    client_secret: Secret
    send_scope: bool = False
    """Send the credential's scopes with the refresh (Microsoft wants them; Google and GHL do not)."""

    @classmethod
    def google(cls, client_id: str, client_secret: Secret | str) -> ProviderEndpoint:
        return cls(GOOGLE_TOKEN_URL, client_id, _secret(client_secret))

    @classmethod
    def microsoft(cls, tenant: str, client_id: str, client_secret: Secret | str) -> ProviderEndpoint:
        """``tenant``: the directory (GUID or domain) the app is registered in, not ``common``."""
        if not tenant.strip():
            raise ValueError("a Microsoft token endpoint needs the tenant: set MICROSOFT_TENANT_ID")
        return cls(MICROSOFT_TOKEN_URL.format(tenant=tenant.strip()), client_id, _secret(client_secret),
                   send_scope=True)

    @classmethod
    def ghl(cls, client_id: str, client_secret: Secret | str) -> ProviderEndpoint:
        return cls(GHL_TOKEN_URL, client_id, _secret(client_secret))

    def __repr__(self) -> str:
        return f"ProviderEndpoint({self.token_url!r}, client_id={self.client_id!r}, client_secret=Secret(***))"


def _secret(value: Secret | str) -> Secret:
    return value if isinstance(value, Secret) else Secret(value)


def endpoints_from_env(environ: Mapping[str, str] | None = None) -> dict[str, ProviderEndpoint]:
    """The endpoints whose client id and secret are set: ``google`` (GOOGLE_OAUTH_CLIENT_ID/_SECRET),
    ``microsoft`` (MICROSOFT_OAUTH_CLIENT_ID/_SECRET and MICROSOFT_TENANT_ID), ``ghl``
    (GHL_OAUTH_CLIENT_ID/_SECRET). Keys are the provider names credentials are stored under."""
    env = os.environ if environ is None else environ

    def pair(prefix: str) -> tuple[str, str] | None:
        cid, secret = env.get(f"{prefix}_CLIENT_ID", "").strip(), env.get(f"{prefix}_CLIENT_SECRET", "")
        return (cid, secret) if cid and secret else None

    found: dict[str, ProviderEndpoint] = {}
    if google := pair("GOOGLE_OAUTH"):
        found["google"] = ProviderEndpoint.google(*google)
    if (microsoft := pair("MICROSOFT_OAUTH")) and env.get("MICROSOFT_TENANT_ID", "").strip():
        found["microsoft"] = ProviderEndpoint.microsoft(env["MICROSOFT_TENANT_ID"], *microsoft)
    if ghl := pair("GHL_OAUTH"):
        found["ghl"] = ProviderEndpoint.ghl(*ghl)
    return found


def standins_rewriter(base: str | None) -> Callable[[str], str]:
    """The ``READINESS_STANDINS_URL`` rule: ``https://HOST/PATH`` -> ``{base}/HOST/PATH`` (identity if unset)."""
    if not base:
        return lambda url: url
    root = base.rstrip("/")

    def rewrite(url: str) -> str:
        parts = urlsplit(url)
        query = f"?{parts.query}" if parts.query else ""
        return f"{root}/{parts.netloc}{parts.path or '/'}{query}"

    return rewrite


def due_at(now: datetime, expires_at: datetime | None, lead: timedelta = DEFAULT_LEAD) -> datetime | None:
    """When a token that expires at ``expires_at``, issued ``now``, should be refreshed: ``lead`` before
    expiry, or at 80 % of its lifetime for a token too short-lived for that (the refresh comes at
    ``expires_at - min(lead, lifetime / 5)``). Equals :func:`vault.store_values.refresh_due` for the default lead."""
    if expires_at is None:
        return None
    expires_at = utc(expires_at)
    lifetime = expires_at - utc(now)
    if lifetime <= timedelta(0):
        return expires_at
    return expires_at - min(lead, lifetime / 5)


# ------------------------------------------------------------------------------------------------ results


@dataclass(frozen=True)
class RefreshOutcome:
    """What happened to one claimed credential. Never a token: ``fingerprint`` is the HMAC name."""

    credential_id: str
    tenant: str
    provider: str
    account: str
    result: str
    """``refreshed``; ``already_fresh``, ``lost_lease``, ``superseded`` (skipped: someone else did it);
    ``needs_reauth``; ``backed_off`` (429, 5xx, timeout, garbage); ``error`` (anything else)."""
    detail: str | None = None
    """A short, secret-free description of a failure."""
    status: int | None = None
    """The token endpoint's HTTP status, when it answered."""
    next_attempt_at: datetime | None = None
    fingerprint: str | None = None
    """``hmac:…`` of the new access token (``refreshed`` only)."""
    rotated: bool = False
    """The provider issued a new refresh token, and it was stored."""


@dataclass(frozen=True)
class RefreshReport:
    """One :meth:`Refresher.run_once`: counts and per-credential outcomes (no secrets)."""

    owner: str
    started_at: datetime
    finished_at: datetime
    refreshed: int = 0
    skipped_already_fresh: int = 0
    needs_reauth: int = 0
    backed_off: int = 0
    errors: int = 0
    outcomes: tuple[RefreshOutcome, ...] = ()

    @property
    def claimed(self) -> int:
        return len(self.outcomes)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (for ``readiness vault refresh --format json`` and the dashboard)."""
        return {
            "owner": self.owner, "started_at": self.started_at.isoformat(), "finished_at": self.finished_at.isoformat(),
            "refreshed": self.refreshed, "skipped_already_fresh": self.skipped_already_fresh,
            "needs_reauth": self.needs_reauth, "backed_off": self.backed_off, "errors": self.errors,
            "outcomes": [
                {"credential_id": o.credential_id, "tenant": o.tenant, "provider": o.provider, "account": o.account,
                 "result": o.result, "detail": o.detail, "status": o.status, "rotated": o.rotated,
                 "fingerprint": o.fingerprint,
                 "next_attempt_at": o.next_attempt_at.isoformat() if o.next_attempt_at else None}
                for o in self.outcomes
            ],
        }


@dataclass(frozen=True)
class _Claim:
    id: str
    tenant: str
    provider: str
    account: str

    def outcome(self, result: str, **kw: Any) -> RefreshOutcome:
        return RefreshOutcome(self.id, self.tenant, self.provider, self.account, result, **kw)


@dataclass
class _Prepared:
    """A claimed credential re-read and still ours: what the call and the settle need."""

    version: int
    refresh_token: Secret
    scopes: list[str]
    fingerprint: str
    interrupted: str | None = None
    """The in-flight marker an earlier cycle left behind (it died or lost its lease mid-call), if any."""


# ---------------------------------------------------------------------------------------------- refresher


class Refresher:
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
    ) -> None:
        if batch < 1:
            raise ValueError("batch must be at least 1")
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        if lease <= timedelta(seconds=2 * timeout):
            raise ValueError(f"lease ({lease}) must be longer than twice the HTTP timeout ({timeout} s), or a "
                             "slow provider lets another worker take the credential mid-refresh")
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
        self.url_rewriter = url_rewriter or (lambda url: url)
        self.progress = progress
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
        counts = dict.fromkeys(set(_COUNTERS.values()), 0)
        for outcome in outcomes:
            counts[_COUNTERS[outcome.result]] += 1
        report = RefreshReport(self.owner, started, self.clock.now(), outcomes=tuple(outcomes), **counts)
        if outcomes:
            log.info("refresh run by %s: %d refreshed, %d skipped, %d needs_reauth, %d backed off, %d errors",
                     self.owner, report.refreshed, report.skipped_already_fresh, report.needs_reauth,
                     report.backed_off, report.errors)
        return report

    def count_due(self) -> int:
        """How many credentials this refresher could claim now (for progress bars and dashboards)."""
        with self.vault._begin() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(_C).where(*self._due(self.clock.now())))
                       .scalar_one())

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

    def _claim(self) -> list[_Claim]:
        """Lease up to ``batch`` due credentials in one transaction.

        PostgreSQL: ``SELECT … FOR UPDATE SKIP LOCKED`` so concurrent claimers take disjoint rows without
        waiting; the lease predicate is re-checked on the locked row. SQLite (the write lock is held from
        ``BEGIN IMMEDIATE``): the same select, then a compare-and-set on (id, version, expired lease).
        """
        now = self.clock.now()
        until = now + self.lease
        c = _C.c
        claims: list[_Claim] = []
        with self.vault._begin() as conn:
            rows = conn.execute(
                sa.select(c.id, c.tenant, c.provider, c.account, c.version)
                .where(*self._due(now)).order_by(c.refresh_due_at, c.id).limit(self.batch)
                .with_for_update(skip_locked=True)
            ).all()
            for row in rows:
                taken = conn.execute(
                    _C.update()
                    .where(c.id == row.id, c.version == row.version,
                           sa.or_(c.lease_until.is_(None), c.lease_until < now))
                    .values(lease_owner=self.owner, lease_until=until)
                ).rowcount
                if taken == 1:
                    claims.append(_Claim(row.id, row.tenant, row.provider, row.account))
        return claims

    def _release(self, claims: Sequence[_Claim]) -> None:
        """Best effort: give back leases not used (an interrupted run), so others need not wait them out."""
        if not claims:
            return
        try:
            with self.vault._begin() as conn:
                conn.execute(
                    _C.update().where(_C.c.id.in_([c.id for c in claims]), _C.c.lease_owner == self.owner)
                    .values(lease_owner=None, lease_until=None)
                )
        except Exception as exc:
            log.warning("could not release %d refresh leases (%s); they expire on their own",
                        len(claims), type(exc).__name__)

    # ------------------------------------------------------------------------------------------ processing

    def _process(self, claim: _Claim) -> RefreshOutcome:
        endpoint = self.endpoints[claim.provider]
        prepared: _Prepared | None = None
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

    def _select_row(self, conn: sa.Connection, credential_id: str, *, lock: bool) -> Any:
        query = sa.select(*_ROW_COLUMNS).where(_C.c.id == credential_id)
        return conn.execute(query.with_for_update() if lock else query).first()

    def _prepare(self, claim: _Claim) -> _Prepared | RefreshOutcome:
        """Re-read the claimed row: skip it if another worker already refreshed it or took it over; else
        renew the lease, mark the refresh in flight (``last_refresh_error`` = :data:`IN_FLIGHT` …) and open
        the refresh token. The marker is committed before the call and replaced by whatever outcome is
        recorded; one still there at the next claim means a cycle died (or lost its lease) mid-call."""
        ring = self.vault._ring()
        with self.vault._begin() as conn:
            row = self._select_row(conn, claim.id, lock=True)
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
                return claim.outcome(result, detail="another worker took it over" if result == "lost_lease"
                                     else "another worker refreshed it first")
            if not self._is_due(row, now):
                conn.execute(_C.update().where(_C.c.id == claim.id, _C.c.lease_owner == self.owner)
                             .values(lease_owner=None, lease_until=None))
                self._audit(conn, ring, claim, "ok", {"result": "already_fresh"})
                return claim.outcome("already_fresh", detail="already refreshed")
            earlier = row.last_refresh_error if (row.last_refresh_error or "").startswith(IN_FLIGHT) else None
            marker = f"{IN_FLIGHT} since {now.isoformat(timespec='seconds')} ({self.owner}); no outcome recorded yet"
            conn.execute(_C.update().where(_C.c.id == claim.id, _C.c.lease_owner == self.owner)
                         .values(lease_until=now + self.lease, last_refresh_error=marker))
            dek = self.vault._dek_for(conn, ring, row.tenant, row.dek_version)
            plain = self.vault._open_field(dek, row.tenant, row.provider, row.id, "refresh", row.dek_version,
                                           row.refresh_ct)
            return _Prepared(row.version, Secret(plain), list(row.scopes or []), row.token_fingerprint, earlier)

    def _call(self, endpoint: ProviderEndpoint, prepared: _Prepared) -> Answer:
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
            response = self.http.post(url, data=form, timeout=self.timeout,
                                      headers={"User-Agent": USER_AGENT, "Accept": "application/json"})
        except httpx.TimeoutException:
            return Answer("transient", f"timeout after {self.timeout:g} s calling the token endpoint")
        except httpx.HTTPError as exc:
            return Answer("transient", f"{type(exc).__name__} calling the token endpoint")
        except (httpx.InvalidURL, ValueError) as exc:
            return Answer("error", f"unusable token endpoint URL ({type(exc).__name__})")
        finally:
            form.clear()
        return classify(response, refresh_token=prepared.refresh_token, client_id=endpoint.client_id,
                        client_secret=endpoint.client_secret, now=self.clock.now())

    # ---------------------------------------------------------------------------------------------- settle

    def _settle(self, claim: _Claim, prepared: _Prepared, answer: Answer) -> RefreshOutcome:
        if answer.kind == "ok":
            return self._store_now(claim, prepared, answer)
        if answer.kind == "invalid_grant":
            return self._invalid_grant(claim, prepared, answer)
        if answer.kind == "rate_limited":  # honour Retry-After; without one, the usual backoff
            return self._fail(claim, "backed_off", answer.detail, answer.status, answer.retry_after, answer)
        if answer.kind == "transient":
            return self._fail(claim, "backed_off", answer.detail, answer.status, None, answer)
        return self._fail(claim, "error", answer.detail, answer.status, None, answer)

    def _store_now(self, claim: _Claim, prepared: _Prepared, answer: Answer) -> RefreshOutcome:
        """New tokens exist only in this process until stored: a database hiccup (busy, a dropped connection)
        gets two more tries at once rather than losing a rotated refresh token to a backoff."""
        for attempt in range(_STORE_TRIES):
            try:
                return self._store(claim, prepared, answer)
            except sa.exc.OperationalError as exc:
                if attempt + 1 == _STORE_TRIES:
                    raise
                log.warning("storing refreshed tokens of credential %s failed (%s); retrying at once", claim.id,
                            type(exc).__name__)
                time.sleep(0.05 * (attempt + 1))
        raise AssertionError("unreachable")

    def _store(self, claim: _Claim, prepared: _Prepared, answer: Answer) -> RefreshOutcome:
        """New access token, rotated (or kept) refresh token, expiry, version bump, lease and in-flight marker
        cleared: one short transaction, with its audit entry, the moment the answer is read.

        Guarded by compare-and-set on what we started from, not by the lease: the write goes through if the
        row's ``version`` is the one we read (nobody wrote since, even if our lease ran out meanwhile), or if
        it still holds the refresh token we exchanged (a write that did not change it, e.g. a failure the
        lease's next holder recorded, or ``needs_reauth`` it concluded from the ``invalid_grant`` our own
        exchange caused: our answer holds the only live successor). Anything else means newer tokens were
        stored, and our answer is discarded rather than written over them."""
        assert answer.access_token is not None
        vault = self.vault
        ring = vault._ring()
        with vault._begin() as conn:
            row = self._select_row(conn, claim.id, lock=True)
            now = self.clock.now()
            if row is not None:
                vault._rows(conn, ring).check_credential(row)
            if row is None or row.state == "revoked" or not row.refresh_ct:
                shown = "gone" if row is None else row.state
                self._audit(conn, ring, claim, "ok", {"result": "superseded", "state": shown, "discarded": True})
                return claim.outcome("superseded", detail=f"credential became {shown} meanwhile; answer discarded")
            untouched = row.version == prepared.version and row.state == "active"
            if not untouched and not self._same_refresh(conn, ring, row, prepared.refresh_token):
                self._audit(conn, ring, claim, "ok", {"result": "superseded", "discarded": True})
                return claim.outcome("superseded", detail="new tokens were stored meanwhile; answer discarded")
            version, dek = vault._active_dek(conn, ring, row.tenant)
            keep = answer.refresh_token is None
            refresh = prepared.refresh_token if keep else answer.refresh_token
            assert refresh is not None
            access_ct = vault._seal_field(dek, row.tenant, row.provider, row.id, "access", version,
                                          answer.access_token.buffer())
            refresh_ct = vault._seal_field(dek, row.tenant, row.provider, row.id, "refresh", version, refresh.buffer())
            fp = vault._fingerprint(conn, ring, answer.access_token.buffer())
            expires = now + timedelta(seconds=answer.expires_in) if answer.expires_in is not None else None
            values: dict[str, Any] = {
                "access_ct": access_ct, "refresh_ct": refresh_ct, "dek_version": version, "token_fingerprint": fp,
                "expires_at": expires, "refresh_due_at": due_at(now, expires, self.lead), "last_refresh_at": now,
                "last_refresh_error": None, "failures": 0, "next_attempt_at": None, "lease_owner": None,
                "lease_until": None, "version": row.version + 1, "updated_at": now, "state": "active",
            }
            if answer.scopes:
                values["scopes"] = answer.scopes
            bound = vault._rows(conn, ring).bind("credential", {**row._asdict(), **values},
                                                 vault._next_seq(conn, ring))
            values.update(audit_seq=bound["audit_seq"], row_mac=bound["row_mac"])
            done = conn.execute(_C.update().where(_C.c.id == row.id, _C.c.version == row.version).values(**values))
            if done.rowcount != 1:  # the row is locked (PostgreSQL) or the database is (SQLite): cannot happen
                raise VaultError(f"credential {row.id} changed while locked")
            detail: dict[str, Any] = {
                "result": "refreshed", "fingerprint": fp, "previous": row.token_fingerprint, "rotated": not keep,
                "expires_at": expires.isoformat() if expires else None, "dek_version": version,
            }
            if row.state != "active":
                detail["revived_from"] = row.state
            if not keep:
                detail["refresh_fingerprint"] = vault._fingerprint(conn, ring, refresh.buffer())
            self._audit(conn, ring, claim, "ok", detail)
        return claim.outcome("refreshed", status=200, fingerprint=fp, rotated=not keep)

    def _invalid_grant(self, claim: _Claim, prepared: _Prepared, answer: Answer) -> RefreshOutcome:
        """Re-read first: if the stored refresh token is no longer the one we sent, another worker won the
        race (and rotated it); only if it is still ours is the grant really dead. If an earlier cycle was
        interrupted mid-call (its in-flight marker was still there), say so: the provider may have rotated
        the token in an answer nobody stored, and only the user can mint a new one."""
        ring = self.vault._ring()
        with self.vault._begin() as conn:
            row = self._select_row(conn, claim.id, lock=True)
            now = self.clock.now()
            if row is not None:
                self.vault._rows(conn, ring).check_credential(row)
            if row is None or row.state != "active" or not row.refresh_ct:
                shown = "gone" if row is None else row.state
                self._audit(conn, ring, claim, "ok", {"result": "superseded", "state": shown})
                return claim.outcome("superseded", detail=f"credential is {shown}", status=answer.status)
            if not self._same_refresh(conn, ring, row, prepared.refresh_token):
                if row.lease_owner == self.owner:
                    conn.execute(_C.update().where(_C.c.id == row.id, _C.c.lease_owner == self.owner)
                                 .values(lease_owner=None, lease_until=None))
                self._audit(conn, ring, claim, "ok", {"result": "superseded", "error": "invalid_grant",
                                                      "note": "refresh token changed meanwhile"})
                return claim.outcome("superseded", status=answer.status,
                                     detail="invalid_grant for a refresh token another worker had already replaced")
            detail = answer.detail
            info: dict[str, Any] = {"result": "needs_reauth", **answer.audit()}
            if prepared.interrupted:
                when = prepared.interrupted.removeprefix(IN_FLIGHT).split(";")[0].strip()
                detail = (f"invalid_grant after an interrupted refresh ({when}): the provider may have rotated the "
                          "refresh token in an answer that was never stored; re-authorise")
                info["interrupted"] = prepared.interrupted
            bound = self.vault._rows(conn, ring).bind("credential", {**row._asdict(), "state": "needs_reauth"},
                                                      self.vault._next_seq(conn, ring))
            conn.execute(
                _C.update().where(_C.c.id == row.id, _C.c.version == row.version).values(
                    state="needs_reauth", failures=row.failures + 1, last_refresh_error=detail,
                    next_attempt_at=None, lease_owner=None, lease_until=None, version=row.version + 1, updated_at=now,
                    audit_seq=bound["audit_seq"], row_mac=bound["row_mac"],
                )
            )
            self._audit(conn, ring, claim, "error", info)
        return claim.outcome("needs_reauth", detail=detail, status=answer.status)

    def _fail(self, claim: _Claim, result: str, detail: str | None, status: int | None,
              delay: timedelta | None, answer: Answer | None = None, *, audit_only: bool = False) -> RefreshOutcome:
        """Record a failed attempt: failures + 1, next_attempt_at, a secret-free error, lease and in-flight
        marker cleared. ``audit_only``: the vault itself failed; leave the row (and its marker) alone."""
        try:
            ring = self.vault._ring()
            with self.vault._begin() as conn:
                row = self._select_row(conn, claim.id, lock=True)
                now = self.clock.now()
                info: dict[str, Any] = {"result": result, "error": detail, "status": status}
                if answer is not None and answer.error is not None:
                    info.update(answer.audit())
                if audit_only or row is None or row.lease_owner != self.owner:
                    info["recorded"] = False
                    self._audit(conn, ring, claim, "error", info)
                    return claim.outcome(result, detail=detail, status=status)
                failures = row.failures + 1
                wait = delay if delay is not None else self._backoff(failures)
                retry_at = now + wait
                conn.execute(
                    _C.update().where(_C.c.id == row.id, _C.c.version == row.version).values(
                        failures=failures, next_attempt_at=retry_at, last_refresh_error=detail, lease_owner=None,
                        lease_until=None, version=row.version + 1, updated_at=now,
                    )
                )
                info.update({"failures": failures, "retry_in_s": round(wait.total_seconds(), 3)})
                self._audit(conn, ring, claim, "error", info)
            return claim.outcome(result, detail=detail, status=status, next_attempt_at=retry_at)
        except (VaultError, sa.exc.SQLAlchemyError) as exc:
            log.warning("could not record a failed refresh of credential %s (%s); its lease expires on its own",
                        claim.id, type(exc).__name__)
            return claim.outcome("error", detail=detail or f"vault: {type(exc).__name__}", status=status)

    # ---------------------------------------------------------------------------------------------- helpers

    def _backoff(self, failures: int) -> timedelta:
        """Full jitter: uniform in [0, min(max_backoff, base * 2^(failures-1))], at least one second."""
        ceiling = min(self.max_backoff, self.base_backoff * (1 << min(max(failures - 1, 0), 32)))
        return max(_MIN_DELAY, ceiling * self.rng.random())

    def _same_refresh(self, conn: sa.Connection, ring: KeyRing, row: Any, used: Secret) -> bool:
        if not row.refresh_ct:
            return False
        dek = self.vault._dek_for(conn, ring, row.tenant, row.dek_version)
        stored = self.vault._open_field(dek, row.tenant, row.provider, row.id, "refresh", row.dek_version,
                                        row.refresh_ct)
        try:
            return hmac.compare_digest(bytes(stored), bytes(used.buffer()))
        finally:
            stored[:] = bytes(len(stored))

    def _audit(self, conn: sa.Connection, ring: KeyRing, claim: _Claim, outcome: str, detail: dict[str, Any]) -> None:
        self.vault._append(conn, ring, self.actor, Op.REFRESH, claim.tenant, claim.id, outcome,
                           {"provider": claim.provider, "account": claim.account, "owner": self.owner, **detail})
