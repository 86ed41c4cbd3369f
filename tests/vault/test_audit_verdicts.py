"""What ``AuditChain.verify`` tells a security reviewer, word for word, for each way the head anchor or the order of
entries can be wrong; and the entries ``Vault.audit_events`` hands back. A chain of our own on SQLite, written with
the real append."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from vault import Actor, Role, StaticKeySource, Vault
from vault.audit import HEAD_KEY, AuditChain, Prepared
from vault.models import AuditEventRecord, Base, VaultMeta

KEY = bytes(range(7, 39))
T0 = datetime(2025, 10, 6, 9, 0, tzinfo=UTC)
ENTRIES = 10
VAULT_ID = "f493784a6d0c1909"
"""``AuditChain(KEY).vault_id()``: HMAC-SHA256 under the chain key of ``readiness/vault-id/v1``, cut to 16 hex."""


@pytest.fixture
def chain_db(tmp_path):
    """A fresh schema and ten entries appended by ``AuditChain.append``."""
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'audit.db'}")
    Base.metadata.create_all(engine)
    chain = AuditChain(KEY)
    with engine.begin() as conn:
        for n in range(ENTRIES):
            chain.append(
                conn,
                at=T0 + timedelta(minutes=n),
                actor="ada",
                role="admin",
                op="list",
                tenant="acme",
                target=f"item-{n + 1}",
                outcome="ok",
                detail={"n": n + 1},
            )
    yield engine, chain
    engine.dispose()


def _rows(engine: sa.Engine) -> list[dict]:
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(sa.select(AuditEventRecord).order_by(AuditEventRecord.seq))]


def _set_head(engine: sa.Engine, value: object) -> None:
    with engine.begin() as conn:
        conn.execute(sa.update(VaultMeta).where(VaultMeta.key == HEAD_KEY).values(value=value))


def _verify(engine: sa.Engine, chain: AuditChain):
    with engine.connect() as conn:
        return chain.verify(conn)


def test_an_untouched_chain_verifies(chain_db):
    engine, chain = chain_db
    report = _verify(engine, chain)
    assert (report.ok, report.checked, report.head_seq) == (True, ENTRIES, ENTRIES)
    assert report.summary == f"audit chain intact: {ENTRIES} entries, head seq {ENTRIES}"


def _delete_the_anchor(engine, chain, rows):
    with engine.begin() as conn:
        conn.execute(sa.delete(VaultMeta).where(VaultMeta.key == HEAD_KEY))


def _malform_the_anchor(engine, chain, rows):
    _set_head(engine, {"seq": "ten"})


def _forge_an_anchor_far_ahead(engine, chain, rows):
    _set_head(engine, {"seq": ENTRIES + 50, "mac": rows[-1]["mac"], "tag": "0" * 64})


def _put_back_an_older_anchor(engine, chain, rows):
    old = rows[-3]
    _set_head(engine, {"seq": old["seq"], "mac": old["mac"], "tag": chain.anchor_tag(old["seq"], old["mac"])})


def _anchor_a_different_last_entry(engine, chain, rows):
    _set_head(engine, {"seq": ENTRIES, "mac": "f" * 64, "tag": chain.anchor_tag(ENTRIES, "f" * 64)})


ANCHOR_CASES = [
    (_delete_the_anchor, ENTRIES, "head anchor missing (vault_meta was edited)"),
    (_malform_the_anchor, ENTRIES + 1, "head anchor malformed (vault_meta was edited)"),
    (_forge_an_anchor_far_ahead, ENTRIES + 1, "head anchor forged: its tag does not verify"),
    (
        _put_back_an_older_anchor,
        ENTRIES - 1,
        f"entries after the head anchor (seq {ENTRIES - 2}): appended outside the vault",
    ),
    (_anchor_a_different_last_entry, ENTRIES, "head anchor mismatch: the last entry is not the one the anchor records"),
]


@pytest.mark.parametrize(
    ("tamper", "seq", "reason"), ANCHOR_CASES, ids=[c[0].__name__.strip("_").replace("_", "-") for c in ANCHOR_CASES]
)
def test_a_tampered_head_anchor_is_named_with_the_first_entry_in_doubt(chain_db, tamper, seq, reason):
    engine, chain = chain_db
    tamper(engine, chain, _rows(engine))
    report = _verify(engine, chain)
    assert (report.ok, report.checked, report.first_bad_seq, report.reason) == (False, ENTRIES, seq, reason)
    assert report.summary == f"audit chain broken at seq {seq}: {reason}"


def test_an_empty_log_without_an_anchor_is_intact(tmp_path):
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    Base.metadata.create_all(engine)
    report = _verify(engine, AuditChain(KEY))
    assert (report.ok, report.checked, report.head_seq) == (True, 0, 0)
    engine.dispose()


def _move(engine: sa.Engine, order: list[int]) -> None:
    """Put the content of entry ``order[i]`` at seq ``i + 1`` (macs kept: the entries are moved, not edited)."""
    rows = {r["seq"]: r for r in _rows(engine)}
    with engine.begin() as conn:
        for at_seq, from_seq in enumerate(order, start=1):
            content = {k: v for k, v in rows[from_seq].items() if k != "seq"}
            conn.execute(sa.update(AuditEventRecord).where(AuditEventRecord.seq == at_seq).values(**content))


def test_the_first_entry_moved_to_the_end_is_named_as_written_at_seq_1(chain_db):
    engine, chain = chain_db
    _move(engine, [*range(2, ENTRIES + 1), 1])
    report = _verify(engine, chain)
    assert (report.first_bad_seq, report.reason) == (
        1,
        "reorder: the entry at seq 1 was written as seq 2 (moved or replayed)",
    )


def test_a_replayed_first_entry_is_named_as_written_at_seq_1(chain_db):
    engine, chain = chain_db
    first = _rows(engine)[0]
    with engine.begin() as conn:
        conn.execute(sa.insert(AuditEventRecord).values(**{**first, "seq": ENTRIES + 1}))
    report = _verify(engine, chain)
    assert (report.first_bad_seq, report.reason) == (
        ENTRIES + 1,
        f"reorder: the entry at seq {ENTRIES + 1} was written as seq 1 (moved or replayed)",
    )


def test_an_entry_pointed_at_another_predecessor_is_a_forgery_not_a_move(chain_db):
    engine, chain = chain_db
    rows = _rows(engine)
    with engine.begin() as conn:
        conn.execute(sa.update(AuditEventRecord).where(AuditEventRecord.seq == 5).values(prev_mac=rows[1]["mac"]))
    report = _verify(engine, chain)
    assert (report.first_bad_seq, report.reason) == (5, "mac mismatch: the entry was edited or forged")


@pytest.mark.parametrize(
    ("rotated", "reason"),
    [
        (8, "reorder: the entry at seq 1 was written as seq 8 (moved or replayed)"),
        (9, "mac mismatch: the entry was edited or forged"),
    ],
    ids=["8-moved-traced", "9-moved-beyond-the-trace-depth"],
)
def test_a_reordering_is_traced_back_through_at_most_eight_moved_entries(chain_db, rotated, reason):
    """Following ``prev_mac`` through moved entries is bounded (``_REORDER_DEPTH``): a longer run of moved entries
    is reported as the plain mac mismatch it also is."""
    engine, chain = chain_db
    _move(engine, [rotated, *range(1, rotated)])  # entry n first, every entry before it one seq later
    report = _verify(engine, chain)
    assert (report.first_bad_seq, report.reason) == (1, reason)


def test_audit_events_are_the_stored_entries_field_for_field(sqlite_url, clock):
    admin = Actor("ada", Role.ADMIN)
    with Vault.init(sqlite_url, StaticKeySource(KEY), clock) as v:
        cid = v.put(admin, "acme", "google", "acct", "ya29.audit-events-token")
        events = v.audit_events(admin, limit=10)
        engine = sa.create_engine(sqlite_url)
        stored = {r["seq"]: r for r in _rows(engine)}
        engine.dispose()
    put = next(e for e in events if e.op == "put")
    assert (put.role, put.tenant, put.target, put.outcome) == ("admin", "acme", cid, "ok")
    for event in events:
        row = stored[event.seq]
        assert (
            event.at,
            event.actor,
            event.role,
            event.op,
            event.tenant,
            event.target,
            event.outcome,
            event.prev_mac,
            event.mac,
        ) == (
            row["at"],
            row["actor"],
            row["role"],
            row["op"],
            row["tenant"],
            row["target"],
            row["outcome"],
            row["prev_mac"],
            row["mac"],
        )
        assert len(event.mac) == 64 and event.at is not None


def test_the_vault_id_is_a_fixed_function_of_the_audit_key():
    """External anchor files name the vault by this id: it must not change between releases."""
    assert AuditChain(KEY).vault_id() == VAULT_ID
    assert AuditChain(bytes(32)).vault_id() != VAULT_ID


def test_a_prepared_statement_runs_in_the_callers_transaction(chain_db):
    engine, _ = chain_db
    select = Prepared(sa.select(VaultMeta.__table__.c.key).where(VaultMeta.__table__.c.key == sa.bindparam("k")))
    with engine.begin() as conn:
        assert select.execute(conn, {"k": HEAD_KEY}) == [(HEAD_KEY,)]
        assert select.execute(conn, {"k": "nothing"}) == []


def test_a_prepared_statement_binds_the_values_written_into_it(chain_db):
    """A value fixed in the statement (a UTC datetime, which the dialect converts) is bound without being passed."""
    engine, _ = chain_db
    meta = VaultMeta.__table__
    since = Prepared(sa.select(meta.c.key).where(meta.c.updated_at >= T0 + timedelta(minutes=9)))
    later = Prepared(sa.select(meta.c.key).where(meta.c.updated_at > T0 + timedelta(minutes=9)))
    with engine.begin() as conn:
        assert since.execute(conn) == [(HEAD_KEY,)]
        assert later.execute(conn) == []


def test_append_returns_the_entry_it_stored(chain_db):
    """``append`` hands back the entry as written: the same sequence number and MAC the chain holds."""
    engine, chain = chain_db
    with engine.begin() as conn:
        event = chain.append(
            conn,
            at=T0 + timedelta(hours=1),
            actor="bo",
            role="admin",
            op="get",
            tenant="acme",
            target="item-11",
            outcome="ok",
            detail={"n": 11},
        )
    stored = _rows(engine)[-1]
    assert (event.seq, event.mac, event.prev_mac) == (stored["seq"], stored["mac"], _rows(engine)[-2]["mac"])
    assert (event.actor, event.op, event.target, event.detail) == ("bo", "get", "item-11", {"n": 11})
