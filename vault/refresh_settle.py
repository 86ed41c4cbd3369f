"""The refresher's settle step: what the token endpoint answered, recorded in one short audited transaction
the moment it is read. New tokens stored (compare-and-set on what the claim started from), a dead grant
turned ``needs_reauth`` (unless another worker won the race), a failure scheduled for a later attempt by
the one retry policy (:mod:`vault.retry`): the refresher does not sleep, it writes ``next_attempt_at``."""

from __future__ import annotations

import hmac
import logging
import random
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from vault.errors import VaultError
from vault.integrity import CREDENTIAL_COLUMNS
from vault.keys import KeyRing
from vault.models import Credential, utc
from vault.rbac import Actor, Op
from vault.refresh_answer import Answer
from vault.refresh_report import Claim, PreparedRefresh, RefreshOutcome
from vault.retry import RetryPolicy
from vault.secret import Secret
from vault.store import Vault
from vault.store_values import Clock

__all__ = ["DEFAULT_LEAD", "IN_FLIGHT", "RefreshSettle", "due_at"]

log = logging.getLogger("vault.refresh")

DEFAULT_LEAD = timedelta(minutes=10)
_STORE_TRIES = 3
IN_FLIGHT = "refresh in flight"
"""How ``last_refresh_error`` starts while a refresh call is out (set before the call, replaced by the outcome)."""

_C: sa.Table = Credential.metadata.tables["credentials"]
_ROW_COLUMNS = (
    *CREDENTIAL_COLUMNS,
    _C.c.version,
    _C.c.lease_owner,
    _C.c.lease_until,
    _C.c.refresh_due_at,
    _C.c.failures,
    _C.c.last_refresh_error,
)


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


class RefreshSettle:
    """Recording an answer (and the row reads and audit entries that needs): the base of
    :class:`~vault.refresh.Refresher`, which sets these attributes."""

    vault: Vault
    actor: Actor
    clock: Clock
    owner: str
    lead: timedelta
    rng: random.Random
    retry_policy: RetryPolicy
    sleep: Callable[[float], None]

    def _select_row(self, conn: sa.Connection, credential_id: str) -> Any:
        """The claimed row, re-read and held (``FOR UPDATE`` on PostgreSQL) until the transaction ends."""
        return conn.execute(sa.select(*_ROW_COLUMNS).where(_C.c.id == credential_id).with_for_update()).first()

    def _settle(self, claim: Claim, prepared: PreparedRefresh, answer: Answer) -> RefreshOutcome:
        if answer.kind == "ok":
            return self._store_now(claim, prepared, answer)
        if answer.kind == "invalid_grant":
            return self._invalid_grant(claim, prepared, answer)
        if answer.kind == "rate_limited":  # honour Retry-After; without one, the usual backoff
            return self._fail(claim, "backed_off", answer.detail, answer.status, answer.retry_after, answer)
        if answer.kind == "transient":
            return self._fail(claim, "backed_off", answer.detail, answer.status, None, answer)
        return self._fail(claim, "error", answer.detail, answer.status, None, answer)

    def _store_now(self, claim: Claim, prepared: PreparedRefresh, answer: Answer) -> RefreshOutcome:
        """New tokens exist only in this process until stored: a database hiccup (busy, a dropped connection)
        gets two more tries at once rather than losing a rotated refresh token to a backoff."""
        for attempt in range(1, _STORE_TRIES):
            try:
                return self._store(claim, prepared, answer)
            except sa.exc.OperationalError as exc:
                log.warning(
                    "storing refreshed tokens of credential %s failed (%s); retrying at once",
                    claim.id,
                    type(exc).__name__,
                )
                self.sleep(0.05 * attempt)
        return self._store(claim, prepared, answer)  # the last try: its failure is the caller's

    def _store(self, claim: Claim, prepared: PreparedRefresh, answer: Answer) -> RefreshOutcome:
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
            row = self._select_row(conn, claim.id)
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
            access_ct = vault._seal_field(
                dek, row.tenant, row.provider, row.id, "access", version, answer.access_token.buffer()
            )
            refresh_ct = vault._seal_field(dek, row.tenant, row.provider, row.id, "refresh", version, refresh.buffer())
            fp = vault._fingerprint(conn, ring, answer.access_token.buffer())
            expires = now + timedelta(seconds=answer.expires_in) if answer.expires_in is not None else None
            values: dict[str, Any] = {
                "access_ct": access_ct,
                "refresh_ct": refresh_ct,
                "dek_version": version,
                "token_fingerprint": fp,
                "expires_at": expires,
                "refresh_due_at": due_at(now, expires, self.lead),
                "last_refresh_at": now,
                "last_refresh_error": None,
                "failures": 0,
                "next_attempt_at": None,
                "lease_owner": None,
                "lease_until": None,
                "version": row.version + 1,
                "updated_at": now,
                "state": "active",
            }
            if answer.scopes:
                values["scopes"] = answer.scopes
            bound = vault._rows(conn, ring).bind("credential", {**row._asdict(), **values}, vault._next_seq(conn, ring))
            values.update(audit_seq=bound["audit_seq"], row_mac=bound["row_mac"])
            done = conn.execute(_C.update().where(_C.c.id == row.id, _C.c.version == row.version).values(**values))
            if done.rowcount != 1:  # the row is locked (PostgreSQL) or the database is (SQLite): cannot happen
                raise VaultError(f"credential {row.id} changed while locked")
            detail: dict[str, Any] = {
                "result": "refreshed",
                "fingerprint": fp,
                "previous": row.token_fingerprint,
                "rotated": not keep,
                "expires_at": expires.isoformat() if expires else None,
                "dek_version": version,
            }
            if row.state != "active":
                detail["revived_from"] = row.state
            if not keep:
                detail["refresh_fingerprint"] = vault._fingerprint(conn, ring, refresh.buffer())
            self._audit(conn, ring, claim, "ok", detail)
        return claim.outcome("refreshed", status=200, fingerprint=fp, rotated=not keep)

    def _invalid_grant(self, claim: Claim, prepared: PreparedRefresh, answer: Answer) -> RefreshOutcome:
        """Re-read first: if the stored refresh token is no longer the one we sent, another worker won the
        race (and rotated it); only if it is still ours is the grant really dead. If an earlier cycle was
        interrupted mid-call (its in-flight marker was still there), say so: the provider may have rotated
        the token in an answer nobody stored, and only the user can mint a new one."""
        ring = self.vault._ring()
        with self.vault._begin() as conn:
            row = self._select_row(conn, claim.id)
            now = self.clock.now()
            if row is not None:
                self.vault._rows(conn, ring).check_credential(row)
            if row is None or row.state != "active" or not row.refresh_ct:
                shown = "gone" if row is None else row.state
                self._audit(conn, ring, claim, "ok", {"result": "superseded", "state": shown})
                return claim.outcome("superseded", detail=f"credential is {shown}", status=answer.status)
            if not self._same_refresh(conn, ring, row, prepared.refresh_token):
                if row.lease_owner == self.owner:
                    conn.execute(
                        _C.update()
                        .where(_C.c.id == row.id, _C.c.lease_owner == self.owner)
                        .values(lease_owner=None, lease_until=None)
                    )
                self._audit(
                    conn,
                    ring,
                    claim,
                    "ok",
                    {"result": "superseded", "error": "invalid_grant", "note": "refresh token changed meanwhile"},
                )
                return claim.outcome(
                    "superseded",
                    status=answer.status,
                    detail="invalid_grant for a refresh token another worker had already replaced",
                )
            detail = answer.detail
            info: dict[str, Any] = {"result": "needs_reauth", **answer.audit()}
            if prepared.interrupted:
                when = prepared.interrupted.removeprefix(IN_FLIGHT).split(";")[0].strip()
                detail = (
                    f"invalid_grant after an interrupted refresh ({when}): the provider may have rotated the "
                    "refresh token in an answer that was never stored; re-authorise"
                )
                info["interrupted"] = prepared.interrupted
            bound = self.vault._rows(conn, ring).bind(
                "credential", {**row._asdict(), "state": "needs_reauth"}, self.vault._next_seq(conn, ring)
            )
            conn.execute(
                _C.update()
                .where(_C.c.id == row.id, _C.c.version == row.version)
                .values(
                    state="needs_reauth",
                    failures=row.failures + 1,
                    last_refresh_error=detail,
                    next_attempt_at=None,
                    lease_owner=None,
                    lease_until=None,
                    version=row.version + 1,
                    updated_at=now,
                    audit_seq=bound["audit_seq"],
                    row_mac=bound["row_mac"],
                )
            )
            self._audit(conn, ring, claim, "error", info)
        return claim.outcome("needs_reauth", detail=detail, status=answer.status)

    def _fail(
        self,
        claim: Claim,
        result: str,
        detail: str | None,
        status: int | None,
        delay: timedelta | None,
        answer: Answer | None = None,
        *,
        audit_only: bool = False,
    ) -> RefreshOutcome:
        """Record a failed attempt: failures + 1, next_attempt_at, a secret-free error, lease and in-flight
        marker cleared. ``audit_only``: the vault itself failed; leave the row (and its marker) alone."""
        try:
            ring = self.vault._ring()
            with self.vault._begin() as conn:
                row = self._select_row(conn, claim.id)
                now = self.clock.now()
                info: dict[str, Any] = {"result": result, "error": detail, "status": status}
                if answer is not None and answer.error is not None:
                    info.update(answer.audit())
                if audit_only or row is None or row.lease_owner != self.owner:
                    info["recorded"] = False
                    self._audit(conn, ring, claim, "error", info)
                    return claim.outcome(result, detail=detail, status=status)
                failures = row.failures + 1
                wait = self.retry_policy.delay(failures, delay)  # Retry-After if given, else the backoff
                retry_at = now + wait
                conn.execute(
                    _C.update()
                    .where(_C.c.id == row.id, _C.c.version == row.version)
                    .values(
                        failures=failures,
                        next_attempt_at=retry_at,
                        last_refresh_error=detail,
                        lease_owner=None,
                        lease_until=None,
                        version=row.version + 1,
                        updated_at=now,
                    )
                )
                info.update({"failures": failures, "retry_in_s": round(wait.total_seconds(), 3)})
                self._audit(conn, ring, claim, "error", info)
            return claim.outcome(result, detail=detail, status=status, next_attempt_at=retry_at)
        except (VaultError, sa.exc.SQLAlchemyError) as exc:
            log.warning(
                "could not record a failed refresh of credential %s (%s); its lease expires on its own",
                claim.id,
                type(exc).__name__,
            )
            return claim.outcome("error", detail=detail or f"vault: {type(exc).__name__}", status=status)

    def _backoff(self, failures: int) -> timedelta:
        """Full jitter: uniform in [0, min(max_backoff, base * 2^(failures-1))], at least one second."""
        return self.retry_policy.backoff(failures)

    def _same_refresh(self, conn: sa.Connection, ring: KeyRing, row: Any, used: Secret) -> bool:
        if not row.refresh_ct:
            return False
        dek = self.vault._dek_for(conn, ring, row.tenant, row.dek_version)
        stored = self.vault._open_field(
            dek, row.tenant, row.provider, row.id, "refresh", row.dek_version, row.refresh_ct
        )
        try:
            return hmac.compare_digest(bytes(stored), bytes(used.buffer()))
        finally:
            stored[:] = bytes(len(stored))

    def _audit(self, conn: sa.Connection, ring: KeyRing, claim: Claim, outcome: str, detail: dict[str, Any]) -> None:
        self.vault._append(
            conn,
            ring,
            self.actor,
            Op.REFRESH,
            claim.tenant,
            claim.id,
            outcome,
            {"provider": claim.provider, "account": claim.account, "owner": self.owner, **detail},
        )
