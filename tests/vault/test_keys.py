"""Key sources: env, file, Google Secret Manager (the real client against the local stand-in), the spec."""

from __future__ import annotations

import base64
import json
import logging
import os
import time

import pytest
from google.auth.credentials import AnonymousCredentials

from checks.standins.secretmanager import SecretManagerStandin
from checks.standins.server import StandinServer
from vault.crypto import kek_fingerprint
from vault.errors import KeyUnavailable
from vault.keys import (
    EnvKeySource,
    FileKeySource,
    GcpKeySource,
    KeyRing,
    key_source_from_spec,
)

K1 = bytes(range(1, 33))
K2 = bytes(range(101, 133))
K3 = bytes(range(201, 233))
PLUS_SLASH = bytes([0xFB, 0xFF] * 16)  # standard base64 "+/+/..."; URL-safe "-_-_..."


def b64(key: bytes) -> str:
    return base64.b64encode(key).decode()


def assert_no_key_in(message: str, *keys: bytes) -> None:
    for key in keys:
        for form in (b64(key), b64(key).rstrip("="), base64.urlsafe_b64encode(key).decode(), key.hex()):
            assert form not in message


# --- env ---------------------------------------------------------------------------------------------------------


def test_env_primary_only():
    ring = EnvKeySource({"TOKEN_VAULT_ENCRYPTION_KEY": b64(K1)}).load()
    assert isinstance(ring, KeyRing)
    assert ring.primary.key == K1 and ring.others == ()
    assert ring.primary.fingerprint == kek_fingerprint(K1)
    assert ring.primary.label == "env:TOKEN_VAULT_ENCRYPTION_KEY"


@pytest.mark.parametrize(
    "text",
    [
        b64(PLUS_SLASH),
        base64.urlsafe_b64encode(PLUS_SLASH).decode(),
        b64(PLUS_SLASH).rstrip("="),
        f"  {b64(PLUS_SLASH)}\n",
    ],
    ids=["standard", "urlsafe", "unpadded", "whitespace"],
)
def test_env_base64_alphabets(text):
    assert EnvKeySource({"TOKEN_VAULT_ENCRYPTION_KEY": text}).load().primary.key == PLUS_SLASH


def test_env_previous_keys_are_decrypt_only_in_order():
    env = {"TOKEN_VAULT_ENCRYPTION_KEY": b64(K1), "TOKEN_VAULT_PREVIOUS_KEYS": f" {b64(K2)} ,, {b64(K3)},{b64(K1)}"}
    ring = EnvKeySource(env).load()
    assert ring.primary.key == K1
    assert [k.key for k in ring.others] == [K2, K3]  # the primary repeated is dropped
    assert ring.fingerprints == [kek_fingerprint(K1), kek_fingerprint(K2), kek_fingerprint(K3)]
    assert ring.by_fingerprint(kek_fingerprint(K3)).key == K3


def test_env_reads_os_environ_by_default(monkeypatch):
    monkeypatch.setenv("TOKEN_VAULT_ENCRYPTION_KEY", b64(K2))
    assert EnvKeySource().load().primary.key == K2


def test_env_missing():
    with pytest.raises(KeyUnavailable, match="TOKEN_VAULT_ENCRYPTION_KEY is not set") as info:
        EnvKeySource({}).load()
    assert "os.urandom(32)" in str(info.value)


@pytest.mark.parametrize(
    "value, expected",
    [
        ("not base64 at all!", "not valid base64"),
        ("%%%%" * 11, "not valid base64"),
        (b64(K1[:16]), "decodes to 16 bytes"),
        (b64(K1 + b"x"), "decodes to 33 bytes"),
        (b64(bytes(32)), "one byte repeated"),
        (b64(b"\xaa" * 32), "one byte repeated"),
        ("   ", "not set"),
    ],
    ids=["garbage", "bad-alphabet", "16-bytes", "33-bytes", "all-zero", "constant", "blank"],
)
def test_env_malformed(value, expected):
    with pytest.raises(KeyUnavailable, match=expected) as info:
        EnvKeySource({"TOKEN_VAULT_ENCRYPTION_KEY": value}).load()
    if value.strip():
        assert value.strip() not in str(info.value)


def test_env_bad_previous_key_named_without_its_value():
    env = {"TOKEN_VAULT_ENCRYPTION_KEY": b64(K1), "TOKEN_VAULT_PREVIOUS_KEYS": f"{b64(K2)},{b64(K3[:20])}"}
    with pytest.raises(KeyUnavailable, match="TOKEN_VAULT_PREVIOUS_KEYS entry 2") as info:
        EnvKeySource(env).load()
    assert_no_key_in(str(info.value), K1, K2, K3[:20])


def test_env_source_repr_has_no_key():
    src = EnvKeySource({"TOKEN_VAULT_ENCRYPTION_KEY": b64(K1)})
    assert src.name == "env"
    assert_no_key_in(repr(src) + repr(src.load()), K1)


# --- file --------------------------------------------------------------------------------------------------------


def write_keys(path, text: str, mode: int = 0o600):
    path.write_text(text)
    os.chmod(path, mode)
    return path


def test_file_0600_with_comments(tmp_path):
    path = write_keys(tmp_path / "kek", f"# current\n{b64(K1)}  # since 2025-10\n\n# older\n{b64(K2)}\n")
    src = FileKeySource(path)
    ring = src.load()
    assert src.name == f"file:{path}"
    assert ring.primary.key == K1 and [k.key for k in ring.others] == [K2]
    assert ring.primary.label == f"file:{path}:2"


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o620, 0o602, 0o660], ids=oct)
def test_file_readable_or_writable_by_others_refused(tmp_path, mode):
    path = write_keys(tmp_path / "kek", b64(K1) + "\n", mode)
    with pytest.raises(KeyUnavailable) as info:
        FileKeySource(path).load()
    assert f"chmod 600 {path}" in str(info.value)
    assert_no_key_in(str(info.value), K1)


def test_file_0400_ok(tmp_path):
    path = write_keys(tmp_path / "kek", b64(K1) + "\n", 0o400)
    assert FileKeySource(str(path)).load().primary.key == K1


def test_file_missing(tmp_path):
    with pytest.raises(KeyUnavailable, match="does not exist"):
        FileKeySource(tmp_path / "nope").load()


def test_file_directory_refused(tmp_path):
    with pytest.raises(KeyUnavailable, match="not a regular file"):
        FileKeySource(tmp_path).load()


def test_file_only_comments(tmp_path):
    path = write_keys(tmp_path / "kek", "# nothing yet\n\n")
    with pytest.raises(KeyUnavailable, match="holds no key"):
        FileKeySource(path).load()


def test_file_bad_line_named(tmp_path):
    path = write_keys(tmp_path / "kek", f"{b64(K1)}\n{b64(K2[:31])}\n")
    with pytest.raises(KeyUnavailable, match=f"line 2 of key file {path}") as info:
        FileKeySource(path).load()
    assert_no_key_in(str(info.value), K1, K2[:31])


# --- Google Secret Manager, through the real client ------------------------------------------------------------


@pytest.fixture(scope="module")
def standin():
    sm = SecretManagerStandin()
    with StandinServer([sm]) as server:
        yield server, sm


@pytest.fixture
def sm(standin):
    server, provider = standin
    provider.reset()
    return provider


@pytest.fixture
def endpoint(standin):
    return f"{standin[0].url}/secretmanager.googleapis.com"


@pytest.fixture(autouse=True)
def restore_logger_levels():
    names = ["google", "google.auth", "google.api_core", "google.cloud", "urllib3"]
    saved = {n: logging.getLogger(n).level for n in names}
    yield
    for name, level in saved.items():
        logging.getLogger(name).setLevel(level)


def gcp(endpoint: str, secret: str = "projects/p/secrets/kek", **kw) -> GcpKeySource:
    kw.setdefault("timeout", 2.0)
    kw.setdefault("deadline", 1.0)
    return GcpKeySource(secret, client_options={"api_endpoint": endpoint}, credentials=AnonymousCredentials(), **kw)


def test_gcp_newest_enabled_is_primary(sm, endpoint):
    sm.add_version("p", "kek", K1)
    sm.add_version("p", "kek", K2)
    src = gcp(endpoint)
    ring = src.load()
    assert src.name == "gcp:projects/p/secrets/kek"
    assert ring.primary.key == K2
    assert ring.primary.label == "gcp:projects/p/secrets/kek/versions/2"
    assert [k.key for k in ring.others] == [K1]
    assert sm.calls == [
        "GET /v1/projects/p/secrets/kek/versions",
        "GET /v1/projects/p/secrets/kek/versions/2:access",
        "GET /v1/projects/p/secrets/kek/versions/1:access",
    ]


def test_gcp_payload_raw_or_base64(sm, endpoint):
    sm.add_version("p", "kek", b64(K1).encode())
    sm.add_version("p", "kek", base64.urlsafe_b64encode(PLUS_SLASH) + b"\n")
    sm.add_version("p", "kek", K3)
    ring = gcp(endpoint).load()
    assert [ring.primary.key, *(k.key for k in ring.others)] == [K3, PLUS_SLASH, K1]


def test_gcp_disabled_versions_excluded(sm, endpoint):
    sm.add_version("p", "kek", K1)
    sm.add_version("p", "kek", K2)
    sm.add_version("p", "kek", K3, enabled=False)
    sm.disable("p", "kek", 1)
    ring = gcp(endpoint).load()
    assert ring.primary.key == K2 and ring.others == ()
    assert not any(":access" in c and "/versions/3" in c for c in sm.calls)


def test_gcp_no_enabled_version(sm, endpoint):
    sm.add_version("p", "kek", K1, enabled=False)
    with pytest.raises(KeyUnavailable, match="no ENABLED version"):
        gcp(endpoint).load()


def test_gcp_crc_mismatch(sm, endpoint):
    sm.add_version("p", "kek", K1)
    sm.corrupt_crc("p", "kek", 1)
    with pytest.raises(KeyUnavailable, match="checksum mismatch") as info:
        gcp(endpoint).load()
    assert_no_key_in(str(info.value), K1)


def test_gcp_permission_denied(sm, endpoint):
    sm.add_version("p", "kek", K1)
    sm.deny("p", "kek")
    with pytest.raises(KeyUnavailable) as info:
        gcp(endpoint).load()
    message = str(info.value)
    assert "roles/secretmanager.secretAccessor" in message and "projects/p/secrets/kek" in message
    assert "403" in message


def test_gcp_not_found(sm, endpoint):
    with pytest.raises(KeyUnavailable, match="not found") as info:
        gcp(endpoint, "projects/p/secrets/missing").load()
    assert "projects/p/secrets/missing" in str(info.value) and "gcloud secrets create" in str(info.value)


def test_gcp_unavailable_is_quick_key_unavailable(sm, endpoint):
    sm.add_version("p", "kek", K1)
    sm.fail_with(503)
    started = time.monotonic()
    with pytest.raises(KeyUnavailable, match="unreachable"):
        gcp(endpoint).load()
    assert time.monotonic() - started < 10
    assert len(sm.calls) >= 2  # transient errors are retried within the deadline


def test_gcp_transient_503_is_retried(sm, endpoint):
    sm.add_version("p", "kek", K1)
    sm.fail_with(503, times=1)
    assert gcp(endpoint, deadline=5.0).load().primary.key == K1


def test_gcp_server_down(sm):
    server = StandinServer([SecretManagerStandin()]).start()
    url = f"{server.url}/secretmanager.googleapis.com"
    src = gcp(url)
    server.stop()
    started = time.monotonic()
    with pytest.raises(KeyUnavailable, match="unreachable") as info:
        src.load()
    assert time.monotonic() - started < 10
    assert "projects/p/secrets/kek" in str(info.value)


def test_gcp_server_stopped_after_a_good_load(sm):
    # the client pools keep-alive connections: a stopped stand-in must still look dead
    provider = SecretManagerStandin()
    provider.add_version("p", "kek", K1)
    server = StandinServer([provider]).start()
    src = gcp(f"{server.url}/secretmanager.googleapis.com")
    assert src.load().primary.key == K1
    server.stop()
    with pytest.raises(KeyUnavailable, match="unreachable"):
        src.load()


@pytest.mark.parametrize(
    "payload, expected",
    [
        (K1[:31], "not valid base64"),
        (b"\xff" * 40, "not base64 text"),
        (b64(K1[:24]).encode(), "24 bytes"),
        (bytes(32), "one byte repeated"),
    ],
    ids=["31-raw-bytes", "binary-garbage", "base64-of-24", "all-zero"],
)
def test_gcp_malformed_payload(sm, endpoint, payload, expected):
    sm.add_version("p", "kek", payload)
    with pytest.raises(KeyUnavailable, match=expected) as info:
        gcp(endpoint).load()
    assert "versions/1" in str(info.value)
    assert_no_key_in(str(info.value), K1, K1[:24])


def test_gcp_no_credentials(sm, endpoint, monkeypatch, tmp_path):
    monkeypatch.setenv("NO_GCE_CHECK", "True")  # do not probe a metadata server
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path))  # no gcloud application-default credentials
    src = GcpKeySource("projects/p/secrets/kek", client_options={"api_endpoint": endpoint}, timeout=2, deadline=1)
    with pytest.raises(KeyUnavailable, match="no Google credentials"):
        src.load()


@pytest.mark.parametrize("bad", ["projects/p", "p/secrets/s", "projects/p/secrets/s/versions/1", ""])
def test_gcp_bad_secret_name(bad):
    with pytest.raises(KeyUnavailable, match="projects/PROJECT/secrets/SECRET"):
        GcpKeySource(bad)


def test_gcp_building_quiets_debug_loggers():
    for name in ("google", "google.auth", "google.api_core", "urllib3"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    logging.getLogger("google.cloud").setLevel(logging.NOTSET)
    GcpKeySource("projects/p/secrets/s", credentials=AnonymousCredentials())
    for name in ("google", "google.auth", "google.api_core", "google.cloud", "urllib3"):
        assert logging.getLogger(name).level >= logging.INFO, name
    assert logging.getLogger("google.auth.transport.requests").getEffectiveLevel() >= logging.INFO
    assert not logging.getLogger("urllib3.connectionpool").isEnabledFor(logging.DEBUG)


def test_gcp_keeps_a_stricter_level():
    logging.getLogger("urllib3").setLevel(logging.WARNING)
    GcpKeySource("projects/p/secrets/s")
    assert logging.getLogger("urllib3").level == logging.WARNING


def test_gcp_debug_logs_carry_no_key(sm, endpoint, caplog):
    sm.add_version("p", "kek", K1)
    with caplog.at_level(logging.DEBUG):
        gcp(endpoint).load()
    assert_no_key_in(caplog.text, K1)


# --- the spec ----------------------------------------------------------------------------------------------------


def test_spec_default_is_env():
    src = key_source_from_spec(environ={"TOKEN_VAULT_ENCRYPTION_KEY": b64(K1)})
    assert isinstance(src, EnvKeySource) and src.load().primary.key == K1


@pytest.mark.parametrize("spec", ["env", " env ", ""])
def test_spec_env(spec):
    assert isinstance(key_source_from_spec(spec, environ={}), EnvKeySource)


def test_spec_from_environment_variable(tmp_path):
    path = write_keys(tmp_path / "kek", b64(K2))
    src = key_source_from_spec(environ={"TOKEN_VAULT_KEY_SOURCE": f"file:{path}"})
    assert isinstance(src, FileKeySource) and src.load().primary.key == K2


def test_spec_file():
    src = key_source_from_spec("file:/etc/readiness/kek")
    assert isinstance(src, FileKeySource) and src.name == "file:/etc/readiness/kek"


def test_spec_gcp():
    src = key_source_from_spec("gcp:projects/acme-prod/secrets/token-vault-kek")
    assert isinstance(src, GcpKeySource) and src.name == "gcp:projects/acme-prod/secrets/token-vault-kek"


def test_spec_gcp_honours_standins_url(sm, standin):
    sm.add_version("acme", "kek", K3)
    env = {"TOKEN_VAULT_KEY_SOURCE": "gcp:projects/acme/secrets/kek", "READINESS_STANDINS_URL": standin[0].url}
    assert key_source_from_spec(environ=env).load().primary.key == K3


@pytest.mark.parametrize("spec", ["vault:x", "file:", "gcp:", "gcp:projects/p", "aws:arn:aws:kms", "FILE:/x"])
def test_spec_unknown_forms(spec):
    with pytest.raises(
        KeyUnavailable,
        match="'env'.*'file:PATH'.*'gcp:projects/PROJECT/secrets/SECRET'|projects/PROJECT/secrets/SECRET",
    ):
        key_source_from_spec(spec, environ={})


def test_spec_never_echoes_a_pasted_key():
    with pytest.raises(KeyUnavailable, match="value not shown") as info:
        key_source_from_spec(b64(K1), environ={})
    assert_no_key_in(str(info.value), K1)
    with pytest.raises(KeyUnavailable) as info:
        key_source_from_spec(f"gcp:{b64(K1)}", environ={})
    assert_no_key_in(str(info.value), K1)


def test_standin_control_surface_drives_the_real_client(sm, standin, endpoint):
    import httpx

    base = f"{standin[0].url}/_standins"
    health = httpx.get(f"{base}/health").json()
    assert health == {"ok": True, "providers": ["secretmanager.googleapis.com"], "hostile": False}
    body = {"project": "p", "secret": "kek", "data_base64": b64(K2)}
    answer = httpx.post(f"{base}/secretmanager.googleapis.com/add_version", json=body)
    assert answer.status_code == 200 and answer.json() == {"name": "projects/p/secrets/kek/versions/1"}
    assert gcp(endpoint).load().primary.key == K2
    state = httpx.get(f"{base}/secretmanager.googleapis.com/state").json()
    assert state["projects/p/secrets/kek"]["versions"][0]["state"] == "ENABLED"
    assert b64(K2) not in json.dumps(state)  # the state view never shows payloads
    assert httpx.get(f"{standin[0].url}/unknown.example.com/x").status_code == 404
