"""Vault integrity against a database writer: every row's metadata bound to a MAC, the audit chain's length
bound to the rows it protects, and an external anchor for what the database alone cannot show.

Every tamper edits the database directly with SQL, as an attacker with write access to it would.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from vault import Actor, IntegrityError, KeyUnavailable, Role, StaticKeySource, Vault, VaultError
from vault.audit import canonical_json
from vault.crypto import derive_key
from vault.integrity import CREDENTIAL_COLUMNS, DATA_KEY_COLUMNS, RowMac
from vault.models import AuditEventRecord, Credential

K1 = bytes(range(32))
ADMIN = Actor("ada", Role.ADMIN)
AUDITOR = Actor("aud", Role.AUDITOR)
TOKEN_A = "ya29.integrity-token-of-account-a-0123456789"
TOKEN_B = "ya29.integrity-token-of-account-b-9876543210"


def _two(v: Vault, clock) -> tuple[str, str]:
    a = v.put(
        ADMIN,
        "acme",
        "google",
        "a@acme.test",
        TOKEN_A,
        "refresh-a",
        expires_at=clock.now() + timedelta(hours=1),
        scopes=["openid"],
    )
    b = v.put(
        ADMIN,
        "acme",
        "google",
        "b@acme.test",
        TOKEN_B,
        "refresh-b",
        expires_at=clock.now() + timedelta(hours=1),
        scopes=["openid"],
    )
    return a, b


def _last_event(raw: sa.Engine) -> dict:
    with raw.connect() as conn:
        row = conn.execute(sa.select(AuditEventRecord).order_by(AuditEventRecord.seq.desc()).limit(1)).one()
    detail = row.detail if isinstance(row.detail, dict) else json.loads(row.detail)
    return {**row._asdict(), "detail": detail}


# ------------------------------------------------------------------------------------ metadata binding


def test_swapping_accounts_between_two_rows_is_an_integrity_error_and_audited(vault_, raw, clock):
    a, b = _two(vault_, clock)
    with raw.begin() as conn:  # a lookup for a@ would now find b's row, and its token
        conn.execute(sa.text("update credentials set account='swap' where id=:id"), {"id": a})
        conn.execute(sa.text("update credentials set account='a@acme.test' where id=:id"), {"id": b})
        conn.execute(sa.text("update credentials set account='b@acme.test' where id=:id"), {"id": a})
    with pytest.raises(IntegrityError):
        vault_.get(ADMIN, "acme", b)
    last = _last_event(raw)
    assert (last["op"], last["outcome"], last["target"]) == ("get", "error", b)
    assert last["detail"]["error"] == "IntegrityError"
    with pytest.raises(IntegrityError):  # list describes tokens too: it will not describe a forged row
        vault_.list(ADMIN, "acme")
    report = vault_.verify_audit(AUDITOR)
    assert report.ok is False and "row MAC" in (report.reason or ""), report.summary
    last = _last_event(raw)  # the check's own entry says the store is not intact (False, not a missing value)
    assert (last["op"], last["outcome"], last["detail"]["intact"]) == ("audit_verify", "ok", False)


TAMPERED = {
    "account": "mallory@evil.test",
    "scopes": ["openid", "https://mail.google.com/"],
    "expires_at": "later",
    "state": "needs_reauth",
    "dek_version": 2,
    "token_fingerprint": "hmac:0000000000000000",
    "audit_seq": 1,
    "row_mac": "0" * 64,
}


@pytest.mark.parametrize("column", list(TAMPERED))
def test_any_bound_column_edited_makes_get_an_integrity_error(vault_, raw, clock, column):
    a, _ = _two(vault_, clock)
    value = TAMPERED[column]
    if value == "later":
        value = clock.now() + timedelta(days=365)
    with raw.begin() as conn:
        conn.execute(sa.update(Credential).where(Credential.id == a).values({column: value}))
    with pytest.raises(IntegrityError):
        vault_.get(ADMIN, "acme", a).wipe()
    assert not vault_.verify_audit(AUDITOR).ok


def _rebind(v: Vault, credential_id: str, changes: dict) -> None:
    """Edit a credential row and recompute its row MAC, as a writer holding the audit key could: what is left to
    refuse the edit is the AEAD's associated data."""
    ring = v._ring()
    with v.engine.begin() as conn:
        row = conn.execute(sa.select(*CREDENTIAL_COLUMNS).where(Credential.id == credential_id)).one()
        bound = v._rows(conn, ring).bind("credential", {**row._asdict(), **changes}, row.audit_seq)
        conn.execute(sa.update(Credential).where(Credential.id == credential_id).values(**bound))


def _ms_row(v: Vault) -> tuple[str, str]:
    google = v.put(ADMIN, "acme", "google", "ops@acme.test", TOKEN_A, "refresh-g")
    microsoft = v.put(ADMIN, "acme", "microsoft", "ops@acme.test", TOKEN_B, "refresh-m")
    return google, microsoft


def test_a_ciphertext_moved_to_another_provider_row_of_the_same_tenant_does_not_open(vault_, clock):
    google, microsoft = _ms_row(vault_)
    with vault_.engine.connect() as conn:
        google_ct = conn.execute(sa.select(Credential.access_ct).where(Credential.id == google)).scalar_one()
    _rebind(vault_, microsoft, {"access_ct": google_ct})
    with pytest.raises(IntegrityError) as err:
        vault_.get(ADMIN, "acme", microsoft)
    assert str(err.value) == "ciphertext failed authentication"
    assert vault_.get(ADMIN, "acme", google).access_token.reveal() == TOKEN_A  # the source row is untouched


def test_a_row_relabelled_to_another_provider_of_the_same_tenant_does_not_open(vault_, clock):
    """Same tenant, same credential id, same DEK: only the provider differs, so only the AAD's provider refuses."""
    google = vault_.put(ADMIN, "acme", "google", "ops@acme.test", TOKEN_A, "refresh-g")
    _rebind(vault_, google, {"provider": "microsoft"})
    with pytest.raises(IntegrityError) as err:
        vault_.get(ADMIN, "acme", google)
    assert str(err.value) == "ciphertext failed authentication"
    assert err.value.__cause__ is None and (err.value.__context__ is None or err.value.__suppress_context__)


def test_a_row_mac_erased_is_an_integrity_error_not_a_legacy_row(vault_, raw, clock):
    a, _ = _two(vault_, clock)
    with raw.begin() as conn:
        conn.execute(sa.text("update credentials set row_mac=NULL, audit_seq=NULL where id=:id"), {"id": a})
    with pytest.raises(IntegrityError):
        vault_.get(ADMIN, "acme", a)


def test_a_data_key_row_edited_is_an_integrity_error(vault_, raw, clock, db_url):
    a, _ = _two(vault_, clock)
    vault_.close()
    with raw.begin() as conn:
        conn.execute(sa.text("update data_keys set audit_seq=1"))
    with Vault.open(db_url, StaticKeySource(K1), clock) as v, pytest.raises(IntegrityError):
        v.get(ADMIN, "acme", a)


def test_legitimate_writes_keep_rows_verifiable(vault_, clock, db_url):
    a, b = _two(vault_, clock)
    vault_.put(ADMIN, "acme", "google", "a@acme.test", "new-token", scopes=["openid", "email"])  # keeps refresh
    vault_.revoke(ADMIN, "acme", b)
    vault_.rotate_dek(ADMIN, "acme")
    with vault_.get(ADMIN, "acme", a) as tokens:
        assert tokens.access_token.reveal() == "new-token" and tokens.refresh_token.reveal() == "refresh-a"
    vault_.close()
    with Vault.open(db_url, StaticKeySource(bytes(range(50, 82)), K1), clock) as v:
        v.rotate_kek(ADMIN)
        assert v.get(ADMIN, "acme", a).access_token.reveal() == "new-token"
        assert len(v.list(ADMIN)) == 2
        report = v.verify_audit(AUDITOR)
        assert report.ok, report.summary


# ----------------------------------------------------------------------------- the chain cannot shrink


def test_deleting_every_audit_entry_and_the_head_anchor_is_detected(vault_, raw, clock):
    _two(vault_, clock)
    with raw.begin() as conn:
        conn.execute(sa.text("delete from audit_events"))
        conn.execute(sa.text("delete from vault_meta where key='audit_head'"))
    report = vault_.verify_audit(AUDITOR)
    assert not report.ok, report.summary
    assert report.first_bad_seq == 1 and "truncated" in (report.reason or ""), report.summary


def test_an_empty_vault_wiped_of_its_audit_log_is_detected(vault_, raw):
    with raw.begin() as conn:
        conn.execute(sa.text("delete from audit_events"))
        conn.execute(sa.text("delete from vault_meta where key='audit_head'"))
    report = vault_.verify_audit(AUDITOR)
    assert not report.ok and "truncated" in (report.reason or ""), report.summary


def test_a_truncated_tail_with_an_old_head_anchor_put_back_is_caught_by_the_rows(vault_, raw, clock):
    with raw.connect() as conn:  # the head anchor as it was after init: a valid tag, from an older snapshot
        old_head = conn.execute(sa.text("select value from vault_meta where key='audit_head'")).scalar_one()
    _two(vault_, clock)
    with raw.begin() as conn:
        conn.execute(sa.text("delete from audit_events where seq > 1"))
        conn.execute(
            sa.text("update vault_meta set value=:v where key='audit_head'"),
            {"v": old_head if isinstance(old_head, str) else json.dumps(old_head)},
        )
    report = vault_.verify_audit(AUDITOR)
    assert not report.ok and "truncated" in (report.reason or ""), report.summary
    assert report.first_bad_seq == 2


# -------------------------------------------------------------------------------------- external anchor


def test_the_external_anchor_catches_a_rollback_to_an_older_copy(sqlite_url, tmp_path, clock):
    anchor = tmp_path / "anchor.log"
    db = Path(sqlite_url.removeprefix("sqlite:///"))
    with Vault.init(sqlite_url, StaticKeySource(K1), clock, anchor=f"file:{anchor}") as v:
        v.put(ADMIN, "acme", "google", "a@acme.test", TOKEN_A)
    backup = tmp_path / "backup.db"
    shutil.copy(db, backup)  # a consistent copy: its chain, rows and anchor all agree
    with Vault.open(sqlite_url, StaticKeySource(K1), clock, anchor=f"file:{anchor}") as v:
        v.put(ADMIN, "acme", "google", "b@acme.test", TOKEN_B)
        v.revoke(ADMIN, "acme", v.list(ADMIN)[0].id)
    shutil.copy(backup, db)
    for side in db.parent.glob(db.name + "-*"):
        side.unlink()
    with Vault.open(sqlite_url, StaticKeySource(K1), clock) as v:
        assert v.verify_audit(AUDITOR).ok  # from inside the database, the old copy is consistent
    with Vault.open(sqlite_url, StaticKeySource(K1), clock, anchor=f"file:{anchor}") as v:
        report = v.verify_audit(AUDITOR)
        assert report.ok is False and "external anchor" in (report.reason or ""), report.summary


def test_the_external_anchor_catches_a_kek_holder_rewriting_the_chain(vault_, raw, clock, db_url, tmp_path):
    anchor = f"file:{tmp_path / 'anchor.log'}"
    vault_.close()
    with Vault.open(db_url, StaticKeySource(K1), clock, anchor=anchor) as v:
        _two(v, clock)
        # Whoever holds the KEK can unwrap the audit key and recompute every mac and the head anchor.
        with v._begin() as conn:
            chain = v._chain(conn, v._ring())[0]
        with raw.connect() as read:  # closed at once: an open read would hold a lock the schema drop waits on
            rows = [dict(r._mapping) for r in read.execute(sa.select(AuditEventRecord).order_by(AuditEventRecord.seq))]
        with raw.begin() as conn:
            prev = rows[1]["prev_mac"]
            for row in rows[1:]:
                if row["seq"] == 2:
                    row["actor"] = "somebody-else"
                row["prev_mac"] = prev
                row["mac"] = chain.mac(row)
                prev = row["mac"]
                conn.execute(
                    sa.update(AuditEventRecord)
                    .where(AuditEventRecord.seq == row["seq"])
                    .values(actor=row["actor"], prev_mac=row["prev_mac"], mac=row["mac"])
                )
            head = {"seq": rows[-1]["seq"], "mac": prev, "tag": chain.anchor_tag(rows[-1]["seq"], prev)}
            conn.execute(sa.text("update vault_meta set value=:v where key='audit_head'"), {"v": json.dumps(head)})
    with Vault.open(db_url, StaticKeySource(K1), clock) as v:
        assert v.verify_audit(AUDITOR).ok  # the rewritten chain is self-consistent
    with Vault.open(db_url, StaticKeySource(K1), clock, anchor=anchor) as v:
        report = v.verify_audit(AUDITOR)
        assert not report.ok and "external anchor" in (report.reason or ""), report.summary


def test_the_external_anchor_is_append_only_lines_of_seq_and_mac(sqlite_url, tmp_path, clock):
    anchor = tmp_path / "anchor.log"
    with Vault.init(sqlite_url, StaticKeySource(K1), clock, anchor=f"file:{anchor}") as v:
        v.put(ADMIN, "acme", "google", "a@acme.test", TOKEN_A)
        report = v.verify_audit(AUDITOR)
        assert report.ok and "external anchor" in report.summary, report.summary
    lines = [json.loads(line) for line in anchor.read_text().splitlines()]
    assert [x["seq"] for x in lines] == sorted(x["seq"] for x in lines) and len(lines) >= 3
    assert set(lines[-1]) == {"vault", "seq", "mac", "tag"}
    assert TOKEN_A not in anchor.read_text()


def test_an_anchor_that_cannot_be_written_warns_and_the_write_stands(sqlite_url, tmp_path, clock, caplog):
    """The anchor file became unwritable (here: a directory where the file was): the operation has committed,
    so it stands, and the operator gets a warning naming the anchor, the seq it misses and why."""
    anchor = tmp_path / "anchor.log"
    with Vault.init(sqlite_url, StaticKeySource(K1), clock, anchor=f"file:{anchor}") as v:
        anchor.unlink()
        anchor.mkdir()
        with caplog.at_level("WARNING", logger="vault"):
            cid = v.put(ADMIN, "acme", "google", "a@acme.test", TOKEN_A)
            warned = [r.getMessage() for r in caplog.records if r.name == "vault"]
        seq = max(e.seq for e in v.audit_events(ADMIN, 5) if e.op == "put")
    assert warned == [f"could not write the external audit anchor file:{anchor} for seq {seq} (IsADirectoryError)"]
    with Vault.open(sqlite_url, StaticKeySource(K1), clock, anchor="") as v:
        assert v.get(ADMIN, "acme", cid).access_token.reveal() == TOKEN_A


def test_an_unusable_anchor_spec_is_refused_at_open(sqlite_url):
    with pytest.raises(VaultError, match="TOKEN_VAULT_AUDIT_ANCHOR"):
        Vault.init(sqlite_url, StaticKeySource(K1), anchor="s3://bucket/anchor")


def test_cli_audit_verify_reads_the_anchor_from_the_environment_and_exits_1(tmp_path):
    import base64
    import os

    anchor = tmp_path / "anchor.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TOKEN_VAULT_", "READINESS_"))}
    env.update(
        {
            "TOKEN_VAULT_DB_URL": f"sqlite:///{tmp_path / 'v.db'}",
            "TOKEN_VAULT_ENCRYPTION_KEY": base64.b64encode(K1).decode(),
            "TOKEN_VAULT_AUDIT_ANCHOR": f"file:{anchor}",
        }
    )

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "checks.shell.cli", "vault", *args],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )

    assert run("init").returncode == 0
    ok = run("audit", "--verify", "--as", "aud:auditor")
    assert ok.returncode == 0 and "external anchor" in ok.stdout, ok.stdout + ok.stderr
    db = tmp_path / "v.db"
    with sa.create_engine(f"sqlite:///{db}").begin() as conn:
        conn.execute(sa.text("delete from audit_events"))
        conn.execute(sa.text("delete from vault_meta where key='audit_head'"))
    broken = run("audit", "--verify", "--as", "aud:auditor")
    assert broken.returncode == 1 and "BROKEN" in broken.stdout, broken.stdout + broken.stderr
    env["TOKEN_VAULT_AUDIT_ANCHOR"] = "nowhere"
    bad = run("audit", "--verify", "--as", "aud:auditor")
    assert bad.returncode == 2 and "TOKEN_VAULT_AUDIT_ANCHOR" in bad.stderr and "Traceback" not in bad.stderr


# ------------------------------------------------------------------------------ existing databases


def test_a_vault_from_before_row_macs_is_bound_once_on_open_and_audited(db_url, raw, clock):
    with Vault.init(db_url, StaticKeySource(K1), clock) as v:
        a, b = _two(v, clock)
        with v._begin() as conn:
            _make_legacy(v, conn)
    _downgrade(raw, "v0001")  # the schema before this change
    with raw.connect() as conn:
        assert "row_mac" not in {c["name"] for c in sa.inspect(conn).get_columns("credentials")}
    with Vault.open(db_url, StaticKeySource(K1), clock) as v:
        assert v.get(ADMIN, "acme", a).access_token.reveal() == TOKEN_A
        bound = [e for e in v.audit_events(ADMIN, 50) if e.op == "bind_rows"]
        assert len(bound) == 1 and bound[0].detail["credentials"] == 2 and bound[0].detail["data_keys"] == 1
        assert v.verify_audit(AUDITOR).ok
    with Vault.open(db_url, StaticKeySource(K1), clock) as v:  # once only
        assert len([e for e in v.audit_events(ADMIN, 50) if e.op == "bind_rows"]) == 1
    with raw.begin() as conn:
        conn.execute(sa.text("update credentials set account='b@acme.test.x' where id=:id"), {"id": b})
    with Vault.open(db_url, StaticKeySource(K1), clock) as v, pytest.raises(IntegrityError):
        v.get(ADMIN, "acme", b)


def _downgrade(engine: sa.Engine, revision: str) -> None:
    from alembic import command
    from alembic.config import Config

    import vault.models

    config = Config()
    config.set_main_option("script_location", str(Path(vault.models.__file__).parent / "migrations"))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, revision)


def test_binding_a_vault_whose_audit_key_kek_is_not_offered_names_the_key(db_url, clock):
    from vault.crypto import kek_fingerprint

    k2 = bytes(range(100, 132))
    with Vault.init(db_url, StaticKeySource(K1), clock):
        pass
    with Vault.open(db_url, StaticKeySource(k2, K1), clock) as v, v._begin() as conn:
        _make_legacy(v, conn)  # an old vault whose audit key is still under K1
    with pytest.raises(KeyUnavailable) as err:
        Vault.open(db_url, StaticKeySource(k2), clock)
    assert str(err.value) == (
        f"the audit key is wrapped under {kek_fingerprint(K1)}, which key source static does not offer: put that key "
        "back (e.g. in TOKEN_VAULT_PREVIOUS_KEYS)"
    )


def _make_legacy(v: Vault, conn: sa.Connection) -> None:
    """Turn a vault into what the previous release wrote: audit key wrapped with purpose ``audit``, no row macs."""
    from vault import crypto
    from vault.store_meta import b64 as _b64
    from vault.store_meta import meta_get as _meta_get
    from vault.store_meta import meta_set as _meta_set
    from vault.store_meta import unb64 as _unb64

    ring = v._ring()
    meta = _meta_get(conn, "audit_key")
    kek = ring.by_fingerprint(meta["kek"])
    key = crypto.unwrap_key(kek.key, _unb64(meta["wrapped"]), "__audit__", 0, kek.fingerprint, purpose="audit+rows")
    wrapped = crypto.wrap_key(kek.key, key, "__audit__", 0, kek.fingerprint, purpose="audit")
    _meta_set(conn, "audit_key", {"wrapped": _b64(wrapped), "kek": kek.fingerprint}, v.clock.now())


# ------------------------------------------------------------------------- the row MAC's serialisation

PINNED_CREDENTIAL = {
    "id": "cred-0001",
    "tenant": "acme",
    "provider": "google",
    "account": "ops@acme.test",
    "scopes": ["openid", "email"],
    "expires_at": datetime(2026, 1, 5, 10, 0, tzinfo=UTC),
    "state": "active",
    "dek_version": 1,
    "token_fingerprint": "hmac:0123456789abcdef",
    "access_ct": b"\x01" * 40,
    "refresh_ct": None,
    "audit_seq": 7,
}
PINNED_DATA_KEY = {
    "tenant": "acme",
    "version": 1,
    "kek_fingerprint": "kek:e1a68fef0423231d",
    "state": "active",
    "wrapped": b"\x02" * 61,
    "audit_seq": 7,
}


def test_row_macs_written_by_an_earlier_release_still_check():
    """The MACs of a credential and a data key as every release has written them (key: the audit key
    ``bytes(range(32))``): a change to the MAC's fields or their serialisation fails this."""
    macs = RowMac(K1, required=True)
    assert macs.credential(PINNED_CREDENTIAL) == "32215c6affa6eb11f771087f5d8de07f70f4d6386169e029d775c5807594213d"
    assert macs.data_key(PINNED_DATA_KEY) == "830bfbf13e061d67effbb88ade2a74e4c329418d5958b70755f5f37c5f8860b6"


class _State(str):
    """A str subclass: encoded as its text by JSON, as by the direct path."""


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"scopes": [], "expires_at": None, "token_fingerprint": None, "access_ct": None, "audit_seq": None},
        {"scopes": None, "refresh_ct": b""},
        {"account": 'quo"te\\back\ttab ünïcödé ✓ 🔑 \x00\x1f\x7f \u2028</script>', "tenant": "", "provider": "é"},
        {"scopes": ["https://mail.google.com/", "ünï", ""], "dek_version": 2**70, "audit_seq": 2**40},
        {"expires_at": datetime(2026, 1, 5, 10, 0)},  # naive: taken as UTC
        {"state": _State("needs_reauth")},
        {"audit_seq": True, "state": None},  # not an int: JSON's true, by the general path
        {"scopes": ["openid", 3]},  # not a str: by the general path
    ],
)
def test_a_row_mac_is_the_hmac_of_the_canonical_json_of_its_fields(changes):
    """The MACs (computed directly for speed) are exactly HMAC-SHA256 over the canonical JSON of the bound
    fields, for any text, a missing value or an unexpected type; and checking a row then MACing it re-sealed
    (what the rotations do) agrees with checking and MACing it as a whole."""
    macs = RowMac(K1, required=True)
    row = {**PINNED_CREDENTIAL, **changes}
    when = row["expires_at"]
    body = {
        "row": "credential",
        **{k: row[k] for k in ("id", "tenant", "provider", "account", "state", "token_fingerprint", "audit_seq")},
        "scopes": list(row["scopes"] or []),
        "expires_at": None if when is None else when.replace(tzinfo=UTC).isoformat(timespec="microseconds"),
        "dek_version": row["dek_version"],
        "access": None if row["access_ct"] is None else hashlib.sha256(row["access_ct"]).hexdigest(),
        "refresh": None if row["refresh_ct"] is None else hashlib.sha256(row["refresh_ct"]).hexdigest(),
    }
    expected = hmac.new(derive_key(K1, "row-mac"), canonical_json(body), "sha256").hexdigest()
    assert macs.credential(row) == expected
    stored = tuple(row[c.name] for c in CREDENTIAL_COLUMNS[:-1]) + (expected,)
    shared = macs.checked_credential(stored)
    resealed = {**row, "access_ct": b"new", "refresh_ct": None, "dek_version": 9, "audit_seq": 11}
    assert macs.rebound_credential(shared, b"new", None, 9, 11) == macs.credential(resealed)
    with pytest.raises(IntegrityError):
        macs.checked_credential(stored[:-1] + ("0" * 64,))

    key = {**PINNED_DATA_KEY, **{k: v for k, v in changes.items() if k in PINNED_DATA_KEY}}
    if "account" in changes:
        key["tenant"] = changes["account"]
    body = {
        "row": "data_key",
        "tenant": key["tenant"],
        "version": key["version"],
        "kek": key["kek_fingerprint"],
        "state": key["state"],
        "wrapped": hashlib.sha256(key["wrapped"]).hexdigest(),
        "audit_seq": key["audit_seq"],
    }
    expected = hmac.new(derive_key(K1, "row-mac"), canonical_json(body), "sha256").hexdigest()
    assert macs.data_key(key) == expected
    shared = macs.checked_data_key((*(key[c.name] for c in DATA_KEY_COLUMNS[:-1]), expected))
    rewrapped = {**key, "wrapped": b"w" * 61, "kek_fingerprint": "kek:ffffffffffffffff", "audit_seq": 12}
    assert macs.rebound_data_key(shared, b"w" * 61, "kek:ffffffffffffffff", 12) == macs.data_key(rewrapped)
