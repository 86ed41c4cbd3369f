"""The append-only audit log: every vault operation, denials and failures included, chained with an HMAC.

Entry *n* carries ``prev_mac`` (the mac of entry *n-1*, :data:`GENESIS` for the first) and

    mac = HMAC-SHA256(chain_key, canonical_json(seq, at, actor, role, op, tenant, target, outcome,
                                               detail, prev_mac))

so editing a field, deleting, inserting or reordering entries breaks the chain at the first entry
touched, and :meth:`AuditChain.verify` names it. Deleting the *last* entries leaves a valid chain, so
every append also writes a head anchor (``vault_meta['audit_head']``: seq, mac and a tag, an HMAC of
both): a log that ends before the anchor says has been truncated. (Rolling back the log *and* the anchor
to an earlier copy of the database is beyond what a chain inside that database can see: ship the
anchor elsewhere when that matters.)

**The chain key.** ``chain_key = HKDF(audit_key, "audit-chain")``, where ``audit_key`` is 32 random
bytes made when the vault is initialised and stored *wrapped under the KEK* (``wrap_key(...,
purpose="audit")``), rewrapped by ``rotate_kek`` like any DEK. Keying the HMAC directly from one KEK
version would tie the whole log to that version forever: old KEKs could never be removed, and once one
was, every entry written under it would become unverifiable. With the indirection, KEK rotation costs
one rewrap and the chain is unbroken across it.

Entries hold no secret: a token appears only as its :func:`~vault.crypto.hmac_fingerprint`, under a
second subkey of the audit key (``HKDF(audit_key, "token-fingerprint")``). Callers pass ``detail`` as
plain JSON (str, int, bool, None, lists and dicts of them).

Appends happen in the same transaction as the operation they record: if the entry cannot be written,
the operation does not happen. Appends serialise on the head anchor's row (``FOR UPDATE`` on
PostgreSQL; SQLite's write lock otherwise), which is what keeps ``seq`` gapless.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.sql.compiler import SQLCompiler

from vault.crypto import derive_key
from vault.models import AuditEventRecord, VaultMeta, utc

__all__ = ["GENESIS", "HEAD_KEY", "PENDING_HEAD", "AuditChain", "AuditEvent", "AuditReport", "canonical_json"]

GENESIS = "0" * 64
"""``prev_mac`` of the first entry."""
HEAD_KEY = "audit_head"
"""The ``vault_meta`` key of the head anchor."""
PENDING_HEAD = "vault_audit_head"
"""``conn.info`` key: the head anchor this transaction wrote, for the external anchor once it commits."""
_MAC_FIELDS = ("seq", "at", "actor", "role", "op", "tenant", "target", "outcome", "detail", "prev_mac")
_REORDER_DEPTH = 8

_Processor = Callable[[Any], Any] | None
_NO_PARAMS: Mapping[str, Any] = {}


class _Plan(NamedTuple):
    sql: str
    positional: bool
    binds: tuple[tuple[str, str, Any, _Processor], ...]
    """(key the caller passes, name in the SQL, default value, bind processor), in SQL order."""
    results: tuple[_Processor, ...]


class Prepared:
    """A Core statement compiled once per dialect and run on the DBAPI cursor of the caller's connection.

    For the per-operation hot paths (the audit append, ``Vault.get``, the vault service's locate and token
    check). It runs the SQL ``conn.execute`` would run, in the caller's transaction on the same DBAPI
    connection, with the same bind and result type processing (the dialect's own processors: UTC datetimes,
    JSON); it skips SQLAlchemy's per-call execution context, which costs several times what SQLite spends on
    the statement, and its autobegin (so on SQLite a read outside a transaction takes no write lock: no
    ``BEGIN IMMEDIATE``). A driver error is raised as SQLAlchemy wraps it (``sa.exc.IntegrityError``,
    ``OperationalError``, ...), with parameters hidden, so callers handle it exactly as they handle
    ``conn.execute``'s.

    Only for statements with plain bind parameters (no ``IN`` expansion, no literal execution).
    """

    def __init__(self, statement: sa.ClauseElement | Callable[[], sa.ClauseElement]) -> None:
        """``statement``, or a function that builds it when it first runs: a dialect's own statements (its
        ``insert``) then cost the import of that dialect only where it is used."""
        self._statement = statement
        self._plans: dict[sa.Dialect, _Plan] = {}  # per dialect instance: bind processors capture its settings

    @property
    def statement(self) -> sa.ClauseElement:
        if not isinstance(self._statement, sa.ClauseElement):
            self._statement = self._statement()  # idempotent: two threads building at once build equal ones
        return self._statement

    def _plan(self, dialect: sa.Dialect) -> _Plan:
        plan = self._plans.get(dialect)
        if plan is not None:
            return plan
        compiled = self.statement.compile(dialect=dialect)
        assert isinstance(compiled, SQLCompiler)
        by_name = {name: bind for bind, name in compiled.bind_names.items()}
        order = list(compiled.positiontup or ()) if compiled.positional else list(by_name)
        escaped = compiled.escaped_bind_names
        binds = tuple(
            (
                by_name[name].key,
                escaped.get(name, name),
                by_name[name].effective_value,
                by_name[name].type.dialect_impl(dialect).bind_processor(dialect),
            )
            for name in order
        )
        columns = getattr(self.statement, "exported_columns", ())
        results = tuple(col.type.dialect_impl(dialect).result_processor(dialect, None) for col in columns)
        plan = _Plan(compiled.string, bool(compiled.positional), binds, results)
        self._plans[dialect] = plan  # idempotent: two threads planning at once store equal plans
        return plan

    def execute(self, conn: sa.Connection, params: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
        """Run the statement inside ``conn``'s transaction; the rows it returns (type-processed), if any."""
        dialect = conn.dialect
        sql, positional, binds, results = self._plans.get(dialect) or self._plan(dialect)
        given = params or _NO_PARAMS
        values = [
            process(given.get(key, default)) if process is not None else given.get(key, default)
            for key, _, default, process in binds
        ]
        args: Sequence[Any] | dict[str, Any] = (
            tuple(values) if positional else {name: v for (_, name, _, _), v in zip(binds, values, strict=True)}
        )
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(sql, args)
            rows = cursor.fetchall() if cursor.description is not None else []
        except dialect.loaded_dbapi.Error as exc:
            disconnect = dialect.is_disconnect(exc, conn.connection.dbapi_connection, cursor)
            if disconnect:
                conn.invalidate(exc)
            raise sa.exc.DBAPIError.instance(
                sql,
                None,
                exc,
                dialect.loaded_dbapi.Error,
                hide_parameters=True,
                dialect=dialect,
                connection_invalidated=disconnect,
            ) from exc
        finally:
            with contextlib.suppress(Exception):  # a dead connection's cursor may refuse to close
                cursor.close()
        if not rows or not any(results):
            return [tuple(row) for row in rows]
        if len(rows) == 1:
            return [tuple(p(v) if p is not None else v for p, v in zip(results, rows[0], strict=True))]
        # Many rows (a rotation's page): column by column, so the columns without a processor cost nothing a row.
        columns: list[Any] = list(zip(*rows, strict=True))
        for i, process in enumerate(results):
            if process is not None:
                columns[i] = map(process, columns[i])
        return list(zip(*columns, strict=True))


# Prebuilt statements: every vault operation appends, so this is the hot path.
_EVENTS: sa.Table = AuditEventRecord.metadata.tables["audit_events"]
_META: sa.Table = VaultMeta.metadata.tables["vault_meta"]
_SELECT_HEAD_FOR_UPDATE = Prepared(sa.select(_META.c.value).where(_META.c.key == HEAD_KEY).with_for_update())
_SELECT_TOP_SEQ = sa.select(sa.func.coalesce(sa.func.max(_EVENTS.c.seq), 0))


def _insert_event_pg() -> sa.ClauseElement:
    from sqlalchemy.dialects.postgresql import insert

    return insert(_EVENTS).on_conflict_do_nothing(index_elements=["seq"]).returning(_EVENTS.c.seq)


def _append_pg() -> sa.ClauseElement:
    from sqlalchemy.dialects.postgresql import insert

    appended = (
        insert(_EVENTS)
        .values({c.name: sa.bindparam(c.name, type_=c.type) for c in _EVENTS.c})
        .on_conflict_do_nothing(index_elements=["seq"])
        .returning(_EVENTS.c.seq)
        .cte("appended")
    )
    return (
        _META.update()
        .where(_META.c.key == HEAD_KEY, sa.exists(sa.select(appended.c.seq)))
        .values(value=sa.bindparam("b_value"), updated_at=sa.bindparam("b_at"))
        .add_cte(appended)
        .returning(_META.c.key)
    )


def _insert_event_sqlite() -> sa.ClauseElement:
    from sqlalchemy.dialects.sqlite import insert

    return insert(_EVENTS).on_conflict_do_nothing(index_elements=["seq"]).returning(_EVENTS.c.seq)


# Each dialect's statements are built on first use: a SQLite vault never imports the PostgreSQL dialect.
_INSERT_EVENT_PG = Prepared(_insert_event_pg)
_APPEND_PG = Prepared(_append_pg)
"""PostgreSQL: the entry inserted (nothing if its seq is taken) and the head anchor moved to it, in one statement
and one round trip; returns a row only when both happened."""
_INSERT_EVENT_SQLITE = Prepared(_insert_event_sqlite)
_UPDATE_HEAD = Prepared(
    _META.update().where(_META.c.key == HEAD_KEY).values(value=sa.bindparam("b_value"), updated_at=sa.bindparam("b_at"))
)


@dataclass(frozen=True)
class AuditEvent:
    """One audit entry, as ``Vault.audit_events`` returns it."""

    seq: int
    at: datetime
    actor: str
    role: str
    op: str
    tenant: str | None
    target: str | None
    """What the operation was about: a credential id, a KEK fingerprint, ``tenant@v2``."""
    outcome: str
    """``ok``, ``denied`` or ``error``."""
    detail: dict[str, Any] = field(default_factory=dict)
    """Plain JSON, never a secret; a token appears only as ``hmac:…``."""
    prev_mac: str = GENESIS
    mac: str = ""


@dataclass(frozen=True)
class AuditReport:
    """What :meth:`AuditChain.verify` found: ``ok``, or the first broken entry and why."""

    ok: bool
    checked: int
    """Entries read."""
    head_seq: int
    """The last entry's seq (0 for an empty log)."""
    first_bad_seq: int | None = None
    """The first entry that is wrong or missing; ``None`` when what broke is a row, not an entry."""
    reason: str | None = None
    external: str | None = None
    """What the external anchor showed, when one is configured (``TOKEN_VAULT_AUDIT_ANCHOR``)."""

    @property
    def summary(self) -> str:
        note = f"; {self.external}" if self.external else ""
        if self.ok:
            return f"audit chain intact: {self.checked} entries, head seq {self.head_seq}{note}"
        if self.first_bad_seq is None:
            return f"vault integrity broken: {self.reason}"
        return f"audit chain broken at seq {self.first_bad_seq}: {self.reason}"


_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=True)
"""One encoder, built once: ``json.dumps`` with options builds a new one per call (half its cost on short values)."""


def canonical_json(value: Any) -> bytes:
    """The one serialisation the macs are computed over: sorted keys, no spaces, ASCII."""
    return _CANONICAL.encode(value).encode()


_PLAIN = (str, int, bool, type(None))


def _as_stored(detail: dict[str, Any]) -> dict[str, Any]:
    """``detail`` as it reads back from the database: ``json.loads(canonical_json(detail))``.

    A flat dict of str keys and str/int/bool/None values (what every vault operation passes) reads back
    as itself with its keys sorted; build that directly and skip the JSON round trip.
    """
    if all(type(k) is str and type(v) in _PLAIN for k, v in detail.items()):
        return {k: detail[k] for k in sorted(detail)}
    loaded: dict[str, Any] = json.loads(canonical_json(detail))
    return loaded


def _at(value: datetime) -> str:
    return utc(value).isoformat(timespec="microseconds")


class AuditChain:
    """Appends and verifies the chain. Built by the vault from the unwrapped audit key."""

    def __init__(self, audit_key: bytes | bytearray) -> None:
        self._key = derive_key(audit_key, "audit-chain")

    # ------------------------------------------------------------------------------------- macs

    def mac(self, fields: dict[str, Any]) -> str:
        """The mac of an entry given as a dict with every field in the chain (``seq`` … ``prev_mac``)."""
        body = {name: fields[name] for name in _MAC_FIELDS}
        body["at"] = _at(body["at"])
        return hmac.new(self._key, canonical_json(body), hashlib.sha256).hexdigest()

    def anchor_tag(self, seq: int, mac: str) -> str:
        return hmac.new(self._key, canonical_json({"anchor": seq, "mac": mac}), hashlib.sha256).hexdigest()

    def verify_anchor_tag(self, seq: int, mac: str, tag: str) -> bool:
        return hmac.compare_digest(self.anchor_tag(seq, mac), tag)

    def vault_id(self) -> str:
        """Names this vault's chain (in the external anchor) without revealing anything about its key."""
        return hmac.new(self._key, b"readiness/vault-id/v1", hashlib.sha256).hexdigest()[:16]

    def next_seq(self, conn: sa.Connection) -> int:
        """The seq this transaction's next entry will get; locks the head anchor (as :meth:`append` does), so
        rows written before the append can record it (``audit_seq``)."""
        rows = _SELECT_HEAD_FOR_UPDATE.execute(conn)
        head = rows[0][0] if rows else None
        return int(head["seq"]) + 1 if head else 1

    # ----------------------------------------------------------------------------------- append

    def append(
        self,
        conn: sa.Connection,
        *,
        at: datetime,
        actor: str,
        role: str,
        op: str,
        tenant: str | None,
        target: str | None,
        outcome: str,
        detail: dict[str, Any],
    ) -> AuditEvent:
        """Append one entry inside the caller's transaction (which it must commit for the entry to count)."""
        rows = _SELECT_HEAD_FOR_UPDATE.execute(conn)
        head = rows[0][0] if rows else None
        seq = int(head["seq"]) + 1 if head else 1
        prev_mac = str(head["mac"]) if head else GENESIS
        at = utc(at)
        fields: dict[str, Any] = {
            "seq": seq,
            "at": at,
            "actor": actor,
            "role": role,
            "op": op,
            "tenant": tenant,
            "target": target,
            "outcome": outcome,
            "detail": _as_stored(detail),
            "prev_mac": prev_mac,
        }
        mac = self.mac(fields)
        anchor = {"seq": seq, "mac": mac, "tag": self.anchor_tag(seq, mac)}
        pg = conn.dialect.name == "postgresql"
        if head and pg:
            # One round trip: the entry inserted and the anchor moved by one statement (a data-modifying CTE).
            written = bool(_APPEND_PG.execute(conn, {**fields, "mac": mac, "b_value": anchor, "b_at": at}))
        else:
            written = bool((_INSERT_EVENT_PG if pg else _INSERT_EVENT_SQLITE).execute(conn, {**fields, "mac": mac}))
            if written:
                self._write_head(conn, bool(head), anchor, at)
        if not written:
            # A row already sits past the anchor (forged, or written outside the vault): append after it rather
            # than fail every operation from now on; verify() names that row as the first broken entry.
            fields["seq"] = int(conn.execute(_SELECT_TOP_SEQ).scalar_one()) + 1
            mac = self.mac(fields)
            conn.execute(_EVENTS.insert(), {**fields, "mac": mac})
            anchor = {"seq": fields["seq"], "mac": mac, "tag": self.anchor_tag(fields["seq"], mac)}
            self._write_head(conn, bool(head), anchor, at)
        conn.info[PENDING_HEAD] = anchor
        return AuditEvent(**fields, mac=mac)

    @staticmethod
    def _write_head(conn: sa.Connection, exists: bool, anchor: dict[str, Any], at: datetime) -> None:
        if exists:
            _UPDATE_HEAD.execute(conn, {"b_value": anchor, "b_at": at})
        else:
            conn.execute(_META.insert(), {"key": HEAD_KEY, "value": anchor, "updated_at": at})

    # ----------------------------------------------------------------------------------- verify

    def verify(self, conn: sa.Connection) -> AuditReport:
        """Walk the chain from seq 1; report the first broken entry, then check the head anchor."""
        expected, prev_mac, checked = 1, GENESIS, 0
        bad: tuple[int, str] | None = None
        suspect: sa.Row[Any] | None = None
        query = sa.select(AuditEventRecord).order_by(AuditEventRecord.seq)
        rows = conn.execute(query.execution_options(yield_per=1000))
        for row in rows:
            checked += 1
            if row.seq != expected:
                missing = f"seq {expected}" if row.seq == expected + 1 else f"seq {expected}..{row.seq - 1}"
                bad = (expected, f"gap in seq: {missing} missing (entries deleted)")
                break
            if not hmac.compare_digest(self.mac(row._asdict()), row.mac):
                suspect = row
                break
            if row.prev_mac != prev_mac:
                bad = (row.seq, f"prev_mac mismatch: seq {row.seq} does not follow seq {row.seq - 1}")
                break
            prev_mac = row.mac
            expected += 1
        rows.close()
        if suspect is not None:
            written_as = self._written_as(conn, suspect._asdict(), _REORDER_DEPTH)
            if written_as is not None:
                why = f"reorder: the entry at seq {suspect.seq} was written as seq {written_as} (moved or replayed)"
            else:
                why = "mac mismatch: the entry was edited or forged"
            bad = (suspect.seq, why)
        last = expected - 1
        if bad is not None:
            return AuditReport(False, checked, last, bad[0], bad[1])
        anchor_problem = self._check_anchor(conn, last, prev_mac)
        if anchor_problem is not None:
            return AuditReport(False, checked, last, anchor_problem[0], anchor_problem[1])
        return AuditReport(True, checked, last)

    def _check_anchor(self, conn: sa.Connection, last: int, last_mac: str) -> tuple[int, str] | None:
        head = conn.execute(sa.select(VaultMeta.value).where(VaultMeta.key == HEAD_KEY)).scalar_one_or_none()
        if head is None:
            return None if last == 0 else (last, "head anchor missing (vault_meta was edited)")
        try:
            seq, mac, tag = int(head["seq"]), str(head["mac"]), str(head["tag"])
        except (KeyError, TypeError, ValueError):
            return (last + 1, "head anchor malformed (vault_meta was edited)")
        if not hmac.compare_digest(self.anchor_tag(seq, mac), tag):
            return (min(seq, last + 1), "head anchor forged: its tag does not verify")
        if seq > last:
            return (last + 1, f"truncated: the head anchor records seq {seq} but the log ends at seq {last}")
        if seq < last:
            return (seq + 1, f"entries after the head anchor (seq {seq}): appended outside the vault")
        if not hmac.compare_digest(mac, last_mac):
            return (last, "head anchor mismatch: the last entry is not the one the anchor records")
        return None

    def _written_as(self, conn: sa.Connection, fields: dict[str, Any], depth: int) -> int | None:
        """The seq an entry was written with, when it verifies there (it was moved), else ``None``.

        Follows ``prev_mac`` to the entry it was written after, wherever that entry now sits.
        """
        if depth <= 0:
            return None
        if fields["prev_mac"] == GENESIS:
            candidate = 1
        else:
            pred = conn.execute(
                sa.select(AuditEventRecord).where(AuditEventRecord.mac == fields["prev_mac"]).limit(1)
            ).first()
            if pred is None:
                return None
            p = pred._asdict()
            pred_seq = p["seq"] if hmac.compare_digest(self.mac(p), p["mac"]) else self._written_as(conn, p, depth - 1)
            if pred_seq is None:
                return None
            candidate = pred_seq + 1
        if candidate != fields["seq"] and hmac.compare_digest(self.mac({**fields, "seq": candidate}), fields["mac"]):
            return candidate
        return None


def event_from_row(row: Any) -> AuditEvent:
    """An :class:`AuditEvent` from an ``audit_events`` row."""
    return AuditEvent(
        seq=row.seq,
        at=row.at,
        actor=row.actor,
        role=row.role,
        op=row.op,
        tenant=row.tenant,
        target=row.target,
        outcome=row.outcome,
        detail=dict(row.detail or {}),
        prev_mac=row.prev_mac,
        mac=row.mac,
    )
