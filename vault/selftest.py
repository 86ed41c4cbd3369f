"""The vault's self-test: does the cryptography, the tamper detection and the redaction work *here*?

:func:`run` builds a scratch vault (an in-memory SQLite database, random in-memory KEKs), exercises it,
and drops it: nothing is written to disk, so it is cheap enough for every ``readiness check``. Each check
is named, timed and independent; a failure is a result, never an exception:

=================================  ========================================================================
``aes256gcm_known_answer``         McGrew-Viega GCM Test Case 16 (AES-256) through ``AESGCM`` and the
                                   vault's blob layout: the published ciphertext and tag, and back
``round_trip``                     ``put`` then ``get`` returns both tokens; neither is in the database's bytes
``tampered_ciphertext_refused``    one ciphertext byte flipped in the row: ``IntegrityError``, audited
``tampered_nonce_refused``         one nonce byte flipped: ``IntegrityError``
``tampered_tag_refused``           one tag byte flipped: ``IntegrityError``
``tampered_aad_refused``           a ciphertext copied to another credential, and to the other field of its
                                   own row (same tenant, same DEK): each refused by the associated data
``cross_tenant_refused``           a ciphertext copied into another tenant's row is refused; a service
                                   actor of one tenant is denied another's credential
``kek_rotation_rewrap_open``       a new primary KEK, ``rotate_kek``, ``rotate_dek`` (rewrap), the old tokens
                                   open, the old KEK removed, the vault opens with the new key alone
``audit_tamper_detected``          the chain verifies; an edited entry is named by ``verify_audit``
``redaction``                      a log line carrying a token, through :mod:`vault.redact`, comes out masked
``key_source``                     only when a key source is given: it loads; its fingerprints are
                                   reported, never a key
=================================  ========================================================================

The scratch vault never sees the given key source's keys: its KEKs are random and die with it. Details
carry no secret (the scratch tokens are random too, and a failure shows an error's type, not its text,
unless it is one of the vault's own messages, which never carry one).
"""

from __future__ import annotations

import base64
import io
import logging
import os
import secrets
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

import vault.crypto as crypto
from vault.errors import AccessDenied, IntegrityError, ReadinessError, VaultError
from vault.integrity import CREDENTIAL_COLUMNS
from vault.keys import KeySource, StaticKeySource
from vault.models import Credential, create_at_head
from vault.rbac import Actor, Role
from vault.redact import MASK, RedactingFilter, Redactor, scrub_text
from vault.store import SystemClock, Vault
from vault.store_session import create_engine
from vault.store_values import Clock

__all__ = ["CHECKS", "SelfTestReport", "SelfTestResult", "run"]

CHECKS: tuple[str, ...] = (
    "aes256gcm_known_answer",
    "round_trip",
    "tampered_ciphertext_refused",
    "tampered_nonce_refused",
    "tampered_tag_refused",
    "tampered_aad_refused",
    "cross_tenant_refused",
    "kek_rotation_rewrap_open",
    "audit_tamper_detected",
    "redaction",
)
"""The checks every run reports, in order; ``key_source`` follows when a key source is given."""

# McGrew & Viega, "The Galois/Counter Mode of Operation (GCM)", Appendix B, Test Case 16 (AES-256).
_TC16 = {
    "key": "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
    "iv": "cafebabefacedbaddecaf888",
    "plaintext": "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
    "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
    "aad": "feedfacedeadbeeffeedfacedeadbeefabaddad2",
    "ciphertext": "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
    "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
    "tag": "76fc6ece0f4e1768cddf8853bb2d551b",
}
_NONCE_AT = 1  # blob layout: format byte, nonce (12), ciphertext, tag (16)
_CIPHERTEXT_AT = 1 + crypto.NONCE_BYTES
_ADMIN = Actor("selftest", Role.ADMIN)


@dataclass(frozen=True)
class SelfTestResult:
    """One named check: whether it passed and what it saw (never a secret)."""

    name: str
    passed: bool
    detail: str
    duration_ms: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "passed": self.passed,
            "detail": self.detail,
            "duration_ms": round(self.duration_ms, 2),
        }


@dataclass(frozen=True)
class SelfTestReport:
    """What :func:`run` found: every check's result, in :data:`CHECKS` order."""

    results: tuple[SelfTestResult, ...]
    started_at: datetime
    finished_at: datetime
    key_source: str | None = None
    """The name of the key source checked (``env``, ``gcp:projects/…``), if one was given."""
    duration_ms: float = 0.0
    names: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "names", tuple(r.name for r in self.results))

    @property
    def ok(self) -> bool:
        """Every check passed."""
        return all(r.passed for r in self.results)

    @property
    def failed(self) -> tuple[SelfTestResult, ...]:
        return tuple(r for r in self.results if not r.passed)

    def result(self, name: str) -> SelfTestResult:
        """The result of the check called ``name`` (``KeyError`` if it did not run)."""
        for r in self.results:
            if r.name == name:
                return r
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``ok``, ``started_at``, ``finished_at``, ``duration_ms``, ``key_source``, ``results``."""
        return {
            "ok": self.ok,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat(),
            "duration_ms": round(self.duration_ms, 2),
            "key_source": self.key_source,
            "results": [r.to_dict() for r in self.results],
        }


class _Failed(Exception):
    """A check saw something wrong; the message is its detail (secret-free by construction)."""


class _Scratch:
    """The scratch vault and what the checks share: random keys, random tokens, a temporary database."""

    def __init__(self, clock: Clock) -> None:
        # In memory (shared cache, so the vault can be closed and opened again on it while ``_keeper`` holds it):
        # nothing touches the disk, no fsync, and the schema comes from the models, without Alembic.
        self.uri = f"file:readiness-vault-selftest-{secrets.token_hex(8)}?mode=memory&cache=shared"
        self.url = f"sqlite:///{self.uri}&uri=true"
        self._keeper = sqlite3.connect(self.uri, uri=True)
        self.clock = clock
        self.k1, self.k2 = os.urandom(32), os.urandom(32)
        engine = create_engine(self.url)
        try:
            create_at_head(engine)
        finally:
            engine.dispose()
        self.vault = Vault.init(
            self.url, StaticKeySource(self.k1, name="selftest"), clock, dek_cache_ttl=300, anchor=""
        )
        self.tokens: dict[str, tuple[str, str]] = {}
        self.ids: dict[str, str] = {}

    @property
    def secrets(self) -> list[str]:
        return [t for pair in self.tokens.values() for t in pair]

    def put(self, label: str, tenant: str = "selftest-a") -> str:
        access, refresh = f"ya29.selftest-{secrets.token_urlsafe(24)}", f"1//selftest-{secrets.token_urlsafe(24)}"
        cid = self.vault.put(
            _ADMIN,
            tenant,
            "google",
            f"{label}@selftest.invalid",
            access,
            refresh,
            expires_at=self.clock.now() + timedelta(hours=1),
            scopes=["openid"],
        )
        self.tokens[cid] = (access, refresh)
        self.ids[label] = cid
        return cid

    def opens(self, tenant: str, cid: str) -> bool:
        """Whether ``get`` returns the tokens stored for ``cid``."""
        with self.vault.get(_ADMIN, tenant, cid) as tokens:
            access, refresh = self.tokens[cid]
            same_refresh = tokens.refresh_token.matches(refresh) if tokens.refresh_token is not None else not refresh
            return tokens.access_token.matches(access) and same_refresh

    def blob(self, cid: str, column: str = "access_ct") -> bytes:
        with self.vault.engine.connect() as conn:
            value = conn.execute(sa.text(f"SELECT {column} FROM credentials WHERE id = :id"), {"id": cid}).scalar_one()
        return bytes(value)

    def write_blob(self, cid: str, blob: bytes, column: str = "access_ct") -> None:
        """Write a ciphertext into a row, and re-MAC the row (vault.integrity): the row MAC would refuse any
        edit first, and these checks are about AES-GCM refusing it on its own."""
        ring = self.vault._ring()
        with self.vault.engine.begin() as conn:
            conn.execute(sa.text(f"UPDATE credentials SET {column} = :b WHERE id = :id"), {"b": blob, "id": cid})
            row = conn.execute(sa.select(*CREDENTIAL_COLUMNS).where(Credential.id == cid)).one()
            mac = self.vault._rows(conn, ring).credential(row)
            conn.execute(sa.update(Credential).where(Credential.id == cid).values(row_mac=mac))

    def refused(self, tenant: str, cid: str) -> str:
        """Detail for a get that must fail authentication; raises _Failed when it does not."""
        try:
            self.vault.get(_ADMIN, tenant, cid).wipe()
        except IntegrityError:
            return "IntegrityError"
        raise _Failed("the tampered row opened: authentication did not catch it")

    def raw(self) -> bytes:
        """The whole database as SQLite stores it (what a file on disk would hold)."""
        return self._keeper.serialize()

    def close(self) -> None:
        try:
            self.vault.close()
        finally:
            self._keeper.close()


def _flip(blob: bytes, at: int) -> bytes:
    data = bytearray(blob)
    data[at] ^= 0x01
    return bytes(data)


# ---------------------------------------------------------------------------------------------------- checks


def _known_answer(_: _Scratch | None) -> str:
    v = {k: bytes.fromhex(x) for k, x in _TC16.items()}
    sealed = AESGCM(v["key"]).encrypt(v["iv"], v["plaintext"], v["aad"])
    if sealed != v["ciphertext"] + v["tag"]:
        raise _Failed("AES-256-GCM produced a ciphertext or tag other than the published one (Test Case 16)")
    blob = b"\x01" + v["iv"] + v["ciphertext"] + v["tag"]
    if crypto.open_blob(v["key"], blob, v["aad"]) != v["plaintext"]:
        raise _Failed("vault.crypto.open_blob did not return the published plaintext (Test Case 16)")
    try:
        crypto.open_blob(v["key"], _flip(blob, len(blob) - 1), v["aad"])
    except IntegrityError:
        pass
    else:
        raise _Failed("vault.crypto.open_blob accepted Test Case 16 with a wrong tag")
    return (
        "McGrew-Viega GCM Test Case 16 (AES-256, 96-bit IV, 60-byte plaintext, 20-byte AAD): published "
        "ciphertext and tag reproduced; the vault's blob layout opens it and refuses a wrong tag"
    )


def _round_trip(s: _Scratch | None) -> str:
    assert s is not None
    cid = s.put("round-trip")
    if not s.opens("selftest-a", cid):
        raise _Failed("get returned tokens other than the ones put")
    raw = s.raw()
    for token in s.tokens[cid]:
        for form in (token.encode(), base64.b64encode(token.encode())):
            if form in raw:
                raise _Failed("a plaintext token (or its base64) is in the database")
    return "put then get returned the same access and refresh tokens; neither (nor its base64) is in the database"


def _tamper(at: Callable[[bytes], int], what: str) -> Callable[[_Scratch | None], str]:
    def check(s: _Scratch | None) -> str:
        assert s is not None
        cid = s.put(f"tamper-{what}")
        blob = s.blob(cid)
        s.write_blob(cid, _flip(blob, at(blob)))
        refused = s.refused("selftest-a", cid)
        last = s.vault.audit_events(_ADMIN, 1)[0]
        if (last.op, last.outcome, last.target) != ("get", "error", cid):
            raise _Failed(f"the refused get was not audited as an error (latest entry: {last.op} {last.outcome})")
        return f"one {what} byte flipped in the stored access token: get refused ({refused}) and audited as error"

    return check


def _tampered_aad(s: _Scratch | None) -> str:
    assert s is not None
    a, b = s.put("aad-a"), s.put("aad-b")
    s.write_blob(b, s.blob(a))  # a's ciphertext in b's row: same tenant, same DEK, other credential id
    s.refused("selftest-a", b)
    c = s.put("aad-c")
    s.write_blob(c, s.blob(c, "access_ct"), "refresh_ct")  # the access ciphertext as the refresh token
    s.refused("selftest-a", c)
    return (
        "a ciphertext copied to another credential of the same tenant and DEK, and the access ciphertext "
        "copied to its own row's refresh field: both refused by the associated data"
    )


def _cross_tenant(s: _Scratch | None) -> str:
    assert s is not None
    mine, theirs = s.put("cross-a", "selftest-a"), s.put("cross-b", "selftest-b")
    s.write_blob(theirs, s.blob(mine))  # tenant a's ciphertext (a's DEK) in tenant b's row
    s.refused("selftest-b", theirs)
    service = Actor("selftest-service", Role.SERVICE, frozenset({"selftest-a"}))
    try:
        s.vault.get(service, "selftest-b", theirs).wipe()
    except AccessDenied:
        pass
    else:
        raise _Failed("a service actor of tenant selftest-a read a credential of tenant selftest-b")
    try:
        s.vault.get(_ADMIN, "selftest-b", mine).wipe()
    except IntegrityError:
        raise _Failed("asking tenant selftest-b for tenant selftest-a's credential reached decryption") from None
    except VaultError:
        pass
    else:
        raise _Failed("tenant selftest-a's credential was returned for tenant selftest-b")
    return (
        "tenant a's ciphertext in tenant b's row refused (other DEK, other associated data); a service actor "
        "of tenant a denied tenant b; tenant a's credential id not found under tenant b"
    )


def _kek_rotation(s: _Scratch | None) -> str:
    assert s is not None
    tenant = "selftest-rotation"  # its own tenant: the tamper checks left bad rows in the others
    cid = s.put("rotation", tenant)
    old_fp, new_fp = crypto.kek_fingerprint(s.k1), crypto.kek_fingerprint(s.k2)
    s.vault.close()
    s.vault = Vault.open(s.url, StaticKeySource(s.k2, s.k1, name="selftest"), s.clock, anchor="")
    kek = s.vault.rotate_kek(_ADMIN)
    if not kek.complete:
        raise _Failed(f"rotate_kek left {kek.remaining} rows under the old KEK")
    dek = s.vault.rotate_dek(_ADMIN, tenant)
    if not dek.complete:
        raise _Failed(f"rotate_dek left {dek.remaining} credentials under the old DEK")
    if not s.opens(tenant, cid):
        raise _Failed("a token stored before the rotation no longer opens")
    s.vault.remove_kek(_ADMIN, old_fp)
    s.vault.close()
    s.vault = Vault.open(s.url, StaticKeySource(s.k2, name="selftest"), s.clock, anchor="")
    if not s.opens(tenant, cid):
        raise _Failed("with the old KEK removed, the token no longer opens under the new KEK alone")
    return (
        f"KEK {old_fp} -> {new_fp}: {kek.rewritten} wrapped key(s) rewrapped, {dek.rewritten} credential(s) "
        f"re-sealed under {dek.target}; the old tokens open; the old KEK removed and the vault opens without it"
    )


def _audit_tamper(s: _Scratch | None) -> str:
    assert s is not None
    before = s.vault.verify_audit(_ADMIN)
    if not before.ok:
        raise _Failed(f"the untouched chain does not verify: {before.summary}")
    target = max(2, before.head_seq // 2)
    with s.vault.engine.begin() as conn:
        conn.execute(sa.text("UPDATE audit_events SET outcome = 'ok' WHERE seq = :seq"), {"seq": target})
        conn.execute(sa.text("UPDATE audit_events SET actor = 'someone-else' WHERE seq = :seq"), {"seq": target})
    after = s.vault.verify_audit(_ADMIN)
    if after.ok:
        raise _Failed(f"an edited entry (seq {target}) went unnoticed: {after.summary}")
    if after.first_bad_seq != target:
        raise _Failed(f"the edit at seq {target} was reported at seq {after.first_bad_seq}: {after.reason}")
    return f"{before.checked} entries verified; entry seq {target} edited: detected at seq {target} ({after.reason})"


def _redaction(_: _Scratch | None) -> str:
    token, refresh = f"ya29.selftest-{secrets.token_urlsafe(24)}", f"opaque-{secrets.token_urlsafe(24)}"
    registered = f"selftest-registered-{secrets.token_urlsafe(18)}"
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    redacting = RedactingFilter([registered])
    handler.addFilter(redacting)
    logger = logging.Logger("vault.selftest.redaction", logging.DEBUG)  # detached: touches no app logging
    logger.addHandler(handler)
    logger.debug("calling the API with Authorization: Bearer %s (refresh_token=%s) and %s", token, refresh, registered)
    handler.flush()
    text = stream.getvalue()
    leaked = [
        what
        for what, value in (
            ("the bearer token", token),
            ("the refresh token", refresh),
            ("the registered secret", registered),
        )
        if value in text
    ]
    if leaked:
        raise _Failed(f"{', '.join(leaked)} survived the redacting filter")
    if text.count(MASK) < 3:
        raise _Failed("the redacting filter did not mask all three secrets")
    if scrub_text(f"token {token} end") != f"token {MASK} end":
        raise _Failed("scrub_text did not mask a Google access token")
    return "a DEBUG line with a bearer token, a refresh_token= pair and a registered secret came out as " + repr(
        text.strip().replace("\n", " ")[:120]
    )


def _key_source_check(source: KeySource) -> Callable[[_Scratch | None], str]:
    def check(_: _Scratch | None) -> str:
        try:
            ring = source.load()
        except ReadinessError as exc:  # KeyUnavailable: its messages never carry key bytes
            raise _Failed(str(exc)) from None
        except Exception as exc:  # anything else could carry anything: its type only
            raise _Failed(f"key source {source.name} failed ({type(exc).__name__})") from None
        older = len(ring.others)
        return f"key source {source.name} loaded: primary {ring.primary.fingerprint}" + (
            f", {older} older key(s) for decryption ({', '.join(k.fingerprint for k in ring.others)})"
            if older
            else ", no older keys"
        )

    return check


# ------------------------------------------------------------------------------------------------------- run


def run(key_source: KeySource | None = None, *, clock: Clock | None = None) -> SelfTestReport:
    """Run every check on a scratch vault (and load ``key_source``, when given); never raises for a failure.

    Takes well under a second. ``clock`` stamps the scratch vault's entries and the report.
    """
    clock = clock or SystemClock()
    started, t0 = clock.now(), time.perf_counter()
    results: list[SelfTestResult] = []
    checks: list[tuple[str, Callable[[_Scratch | None], str], bool]] = [
        ("aes256gcm_known_answer", _known_answer, False),
        ("round_trip", _round_trip, True),
        ("tampered_ciphertext_refused", _tamper(lambda b: _CIPHERTEXT_AT, "ciphertext"), True),
        ("tampered_nonce_refused", _tamper(lambda b: _NONCE_AT, "nonce"), True),
        ("tampered_tag_refused", _tamper(lambda b: len(b) - 1, "tag"), True),
        ("tampered_aad_refused", _tampered_aad, True),
        ("cross_tenant_refused", _cross_tenant, True),
        ("kek_rotation_rewrap_open", _kek_rotation, True),
        ("audit_tamper_detected", _audit_tamper, True),
        ("redaction", _redaction, False),
    ]
    if key_source is not None:
        checks.append(("key_source", _key_source_check(key_source), False))
    scratch: _Scratch | None = None
    scratch_error: str | None = None
    scrubber = Redactor()  # one for the run: each scratch secret's forms are worked out once, not per check
    try:
        scratch = _Scratch(clock)
    except Exception as exc:
        scratch_error = _describe(exc, [])
    try:
        for name, check, needs_vault in checks:
            t = time.perf_counter()
            if needs_vault and scratch is None:
                results.append(
                    SelfTestResult(name, False, f"no scratch vault: {scratch_error}", (time.perf_counter() - t) * 1000)
                )
                continue
            try:
                detail, passed = check(scratch), True
            except _Failed as exc:
                detail, passed = str(exc), False
            except Exception as exc:
                detail, passed = _describe(exc, scratch.secrets if scratch else []), False
            if scratch is not None:
                for secret in scratch.secrets:
                    scrubber.add(secret)  # a secret already known is a hash lookup
                detail = scrubber.scrub(detail)
            results.append(SelfTestResult(name, passed, detail, (time.perf_counter() - t) * 1000))
    finally:
        if scratch is not None:
            scratch.close()
    return SelfTestReport(
        tuple(results), started, clock.now(), key_source.name if key_source else None, (time.perf_counter() - t0) * 1000
    )


def _describe(exc: BaseException, known: list[str]) -> str:
    """An unexpected error as a detail: the vault's own messages (secret-free), else the type alone."""
    if isinstance(exc, ReadinessError):
        return scrub_text(f"{type(exc).__name__}: {exc}", known)
    return f"unexpected {type(exc).__name__}"
