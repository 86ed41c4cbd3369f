"""vault.selftest: every named check passes on a healthy build, fails when its subject is broken, leaks nothing."""

from __future__ import annotations

import base64
import json
import os

import pytest

import vault.selftest
from vault import StaticKeySource, VaultError
from vault.crypto import kek_fingerprint
from vault.keys import EnvKeySource
from vault.selftest import CHECKS, SelfTestReport, run

K1 = bytes(range(7, 39))
K2 = bytes(range(90, 122))


def _forms(secret: bytes) -> list[str]:
    return [
        secret.hex(),
        base64.b64encode(secret).decode(),
        base64.urlsafe_b64encode(secret).decode().rstrip("="),
        secret.decode("latin-1"),
    ]


@pytest.fixture(scope="module")
def healthy() -> SelfTestReport:
    return run()


def test_every_named_check_passes_on_a_healthy_build(healthy):
    assert healthy.names == CHECKS
    failed = {r.name: r.detail for r in healthy.results if not r.passed}
    assert failed == {}
    assert healthy.ok
    assert all(r.detail and r.duration_ms >= 0 for r in healthy.results)


def test_to_dict_is_json_with_every_result(healthy):
    data = json.loads(json.dumps(healthy.to_dict()))
    assert data["ok"] is True
    assert [r["name"] for r in data["results"]] == list(CHECKS)
    assert set(data["results"][0]) == {"name", "passed", "detail", "duration_ms"}
    assert data["key_source"] is None
    assert healthy.result("round_trip").passed
    with pytest.raises(KeyError):
        healthy.result("key_source")  # no key source given: not checked


def test_a_given_key_source_is_loaded_and_named_by_fingerprint_only():
    report = run(StaticKeySource(K1, K2, name="env"))
    assert report.names == (*CHECKS, "key_source")
    result = report.result("key_source")
    assert result.passed, result.detail
    assert kek_fingerprint(K1) in result.detail and kek_fingerprint(K2) in result.detail
    text = json.dumps(report.to_dict())
    assert report.to_dict()["key_source"] == "env"
    for key in (K1, K2):
        assert not any(form in text for form in _forms(key))


def test_the_scratch_vault_never_uses_the_given_keys(monkeypatch):
    used: list[tuple[bytes, ...]] = []

    class Spy(StaticKeySource):
        def __init__(self, *keys, name="static"):
            used.append(keys)
            super().__init__(*keys, name=name)

    monkeypatch.setattr(vault.selftest, "StaticKeySource", Spy)
    report = run(StaticKeySource(K1))
    assert report.ok, [(r.name, r.detail) for r in report.failed]
    assert used and all(K1 not in keys for keys in used)


class Broken:
    name = "broken"

    def load(self):
        raise RuntimeError("could not reach the HSM; key material was 3q2+7w== (a secret in an exception)")


def test_a_broken_key_source_fails_key_source_alone_and_its_message_is_not_shown():
    report = run(Broken())
    assert not report.ok
    assert [r.name for r in report.failed] == ["key_source"]
    detail = report.result("key_source").detail
    assert "RuntimeError" in detail and "broken" in detail
    assert "3q2+7w==" not in json.dumps(report.to_dict())


def test_a_missing_env_key_fails_key_source_with_the_fix():
    report = run(EnvKeySource({}))
    result = report.result("key_source")
    assert not result.passed
    assert "TOKEN_VAULT_ENCRYPTION_KEY is not set" in result.detail


def test_no_scratch_token_or_key_appears_in_the_report(monkeypatch):
    tokens: list[str] = []
    real = vault.selftest.secrets.token_urlsafe

    def remembered(n: int) -> str:
        tokens.append(real(n))
        return tokens[-1]

    keys: list[bytes] = []
    real_urandom = os.urandom

    def recorded(n: int) -> bytes:
        value = real_urandom(n)
        if n == 32:
            keys.append(value)
        return value

    monkeypatch.setattr(vault.selftest.secrets, "token_urlsafe", remembered)
    monkeypatch.setattr(vault.selftest.os, "urandom", recorded)  # the same os module: every 32-byte draw
    report = run(StaticKeySource(K1))
    assert report.ok
    text = json.dumps(report.to_dict())
    assert len(tokens) >= 10 and len(keys) >= 2
    assert not [t for t in tokens if t in text]
    assert not [k for k in keys if any(form in text for form in _forms(k))]


def test_a_wrong_aes_implementation_fails_the_known_answer(monkeypatch):
    class WrongAESGCM:
        def __init__(self, key):
            pass

        def encrypt(self, nonce, data, aad):
            return bytes(len(data) + 16)

    monkeypatch.setattr(vault.selftest, "AESGCM", WrongAESGCM)
    report = run()
    assert [r.name for r in report.failed] == ["aes256gcm_known_answer"]
    assert "Test Case 16" in report.result("aes256gcm_known_answer").detail


def test_a_filter_that_does_not_redact_fails_redaction(monkeypatch):
    import logging

    class Useless(logging.Filter):
        def __init__(self, secrets=()):
            super().__init__()

    monkeypatch.setattr(vault.selftest, "RedactingFilter", Useless)
    report = run()
    assert [r.name for r in report.failed] == ["redaction"]
    assert "survived" in report.result("redaction").detail


def test_without_a_scratch_vault_the_vault_checks_fail_and_the_others_still_run(monkeypatch):
    def refuse(*args, **kwargs):
        raise VaultError("the scratch database is read-only")

    monkeypatch.setattr(vault.selftest.Vault, "init", refuse)
    report = run()
    assert report.names == CHECKS
    passed = {r.name for r in report.results if r.passed}
    assert passed == {"aes256gcm_known_answer", "redaction"}
    assert "no scratch vault: VaultError: the scratch database is read-only" in report.result("round_trip").detail


def test_the_clock_stamps_the_report(clock):
    report = run(clock=clock)
    assert report.ok
    assert report.started_at == clock.now() == report.finished_at


def test_the_scratch_vault_is_in_memory_and_its_bytes_are_what_round_trip_scans(clock):
    """The round trip looks for the plaintext in the bytes SQLite holds: the ciphertext it stored is in them."""
    scratch = vault.selftest._Scratch(clock)
    try:
        cid = scratch.put("scan")
        raw = scratch.raw()
        assert raw.startswith(b"SQLite format 3\0")
        assert scratch.blob(cid) in raw
        assert not any(token.encode() in raw for token in scratch.tokens[cid])
    finally:
        scratch.close()


def test_the_self_test_writes_nothing_to_disk(tmp_path):
    """Run on every `readiness check`: no directory made, no file opened for writing, no SQLite file opened
    (Python's audit events, in a fresh interpreter), and nothing left in the temporary directory, cwd or HOME."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    for name in ("tmp", "cwd", "home"):
        (tmp_path / name).mkdir()
    code = """
import os, sys
seen = []
def hook(event, args):
    if event == "sqlite3.connect" and "mode=memory" not in str(args[0]):
        seen.append(("sqlite3.connect", str(args[0])))
    elif event in ("os.mkdir", "shutil.rmtree", "os.remove"):
        seen.append((event, str(args[0])))
    elif event == "open" and isinstance(args[0], str) and args[2] & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
        seen.append(("open", args[0]))
import vault.selftest as s
sys.addaudithook(hook)
r = s.run()
print(r.ok, seen)
"""
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path / "cwd",
        capture_output=True,
        text=True,
        timeout=120,
        env={
            "PATH": os.environ.get("PATH", ""),
            "PYTHONPATH": str(root),
            "HOME": str(tmp_path / "home"),
            "TMPDIR": str(tmp_path / "tmp"),
        },
    )
    assert done.stdout.strip() == "True []", done.stderr
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")) == ["cwd", "home", "tmp"]
