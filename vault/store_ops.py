"""The audited operation, the frame of every public method of the :class:`~vault.store.Vault`: the RBAC check
(a denial audited), the body and its audit entry in one transaction, a lost compare-and-set run again, and a
failure audited as ``error`` with nothing returned."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

import sqlalchemy as sa

from vault.errors import AccessDenied, VaultError
from vault.keys import KeyRing
from vault.rbac import Actor, Op, denial_reason
from vault.secret import TokenSet
from vault.store_keys import VaultKeys

__all__ = ["AuditedOps"]

log = logging.getLogger("vault")

_T = TypeVar("_T")


def _wipe(value: object) -> None:
    if isinstance(value, TokenSet):
        value.wipe()


class _Retry(Exception):  # keep the name: the audit log records it ("error": "_Retry")
    """A compare-and-set lost a race: run the transaction again (``store_credentials`` raises it)."""


class _AuditUnwritable(Exception):
    """The operation's audit entry could not be written: the operation must not happen."""


def _connection_lost(exc: BaseException) -> bool:
    """SQLAlchemy found the connection dead and invalidated it (its transaction is gone with it)."""
    cause = exc.__cause__ if isinstance(exc, _AuditUnwritable) else exc
    return isinstance(cause, sa.exc.DBAPIError) and cause.connection_invalidated


class AuditedOps(VaultKeys):
    """The audited operation: the third layer of a :class:`~vault.store.Vault`, under its public methods."""

    def authorize(self, actor: Actor, op: Op, tenant: str | None = None, target: str | None = None) -> None:
        """Raise :class:`AccessDenied` unless the RBAC matrix lets ``actor`` do ``op``; audit the denial."""
        reason = denial_reason(actor, op, tenant)
        if reason is None:
            return
        try:
            ring = self._ring()
            with self._begin() as conn:
                self._append(conn, ring, actor, op, tenant, target, "denied", {"reason": reason})
        except Exception as exc:  # still a denial; the missing entry is itself worth a warning
            log.warning("could not audit a denied %s by %s (%s)", Op(op).value, actor.name, type(exc).__name__)
        raise AccessDenied(f"access denied: {reason}")

    def _record_failure(
        self, actor: Actor, op: Op | str, tenant: str | None, target: str | None, exc: BaseException
    ) -> None:
        """Best effort: an ``error`` entry for an operation that failed (its own transaction rolled back)."""
        detail = {"error": type(exc).__name__, "message": str(exc)[:300]}
        try:
            ring = self._ring()
            with self._begin() as conn:
                self._append(conn, ring, actor, op, tenant, target, "error", detail)
        except Exception as audit_exc:
            name = op.value if isinstance(op, Op) else op
            log.warning("could not audit a failed %s by %s (%s)", name, actor.name, type(audit_exc).__name__)

    def _run(
        self,
        actor: Actor,
        op: Op,
        tenant: str | None,
        target: str | None,
        body: Callable[[sa.Connection, KeyRing], tuple[_T, str | None, dict[str, Any]]],
        *,
        retries: int = 0,
    ) -> _T:
        """Run ``body`` and its audit entry in one transaction; on failure audit an ``error`` and raise."""
        attempt = 0
        reconnected = False
        while True:
            result: Any = None
            try:
                try:
                    ring = self._ring()
                    with self._begin() as conn:
                        result, target_, detail = body(conn, ring)
                        named = target_ if target_ is not None else target
                        try:
                            self._append(conn, ring, actor, op, tenant, named, "ok", detail)
                        except sa.exc.SQLAlchemyError as exc:
                            raise _AuditUnwritable(type(exc).__name__) from exc
                    return result  # type: ignore[no-any-return]
                except (_AuditUnwritable, sa.exc.DBAPIError) as exc:
                    if reconnected or self._in_group() or not _connection_lost(exc):
                        raise
                    # The connection had died (a server restart, an idle timeout): the pool has dropped it and
                    # the transaction went with it. Run once more on a fresh connection (no pre-ping: see
                    # store_session.create_engine).
                    _wipe(result)
                    reconnected = True
                    continue
            except VaultError as exc:
                _wipe(result)
                self._record_failure(actor, op, tenant, target, exc)
                raise
            except _AuditUnwritable as exc:
                _wipe(result)
                self._record_failure(actor, op, tenant, target, exc)
                raise VaultError(
                    f"{op.value} was not performed: its audit entry could not be written ({exc}); nothing was "
                    "changed and nothing is returned"
                ) from exc
            except (_Retry, sa.exc.IntegrityError) as exc:
                _wipe(result)
                if attempt < retries:
                    attempt += 1
                    continue
                self._record_failure(actor, op, tenant, target, exc)
                if isinstance(exc, _Retry):
                    raise VaultError(f"{op.value} lost a race {attempt + 1} times; retry it") from None
                raise VaultError(
                    f"{op.value} was not performed: the vault database refused it ({type(exc).__name__})"
                ) from exc
            except sa.exc.SQLAlchemyError as exc:
                _wipe(result)
                self._record_failure(actor, op, tenant, target, exc)
                raise VaultError(
                    f"{op.value} was not performed: the vault database refused it ({type(exc).__name__}); nothing "
                    "was changed and nothing is returned"
                ) from exc
            except BaseException:
                _wipe(result)
                raise
