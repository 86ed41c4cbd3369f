"""The redacting log filter: DEBUG logs captured through it hold no token and no registered secret."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
from html import escape as html_escape
from urllib.parse import quote, quote_plus

import pytest

from vault.redact import MASK, RedactingFilter, Redactor, install, scrub_text


@pytest.fixture
def redacting(caplog):
    """A filter installed on a test logger and the root handlers (caplog's included), removed afterwards."""
    logger = logging.getLogger("tests.vault.redact")
    caplog.set_level(logging.DEBUG)
    flt = install(logger)
    yield logger, flt
    logger.removeFilter(flt)
    for handler in logging.getLogger().handlers:
        handler.removeFilter(flt)


# (id, log message, plaintext that must not survive, text that must survive)
SHAPES = [
    ("bearer-header", "Authorization: Bearer abcDEF123456.xyz-_~+/=", "abcDEF123456.xyz", "Authorization"),
    ("bearer-dict", "{'Authorization': 'Bearer s3cr3tTokenValue9'}", "s3cr3tTokenValue9", "Authorization"),
    ("basic-header", "headers={'authorization': 'Basic QUN4eHg6dG9rZW4xMjM='}", "QUN4eHg6dG9rZW4xMjM", "headers"),
    ("google-access", "refreshed: ya29.a0AfB_byC-1xYz_2AbC.3dEf", "a0AfB_byC-1xYz", "refreshed"),
    ("google-refresh", "stored 1//0gLkRefreshTokenValue-abc_123 ok", "0gLkRefreshTokenValue", "stored"),
    ("jwt", "id_token eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJlLXZhbHVl end", "eyJzdWIiOiIxMjM0In0", "end"),
    ("jwt-unsigned", "got eyJhbGciOiJub25lIn0.eyJzdWIiOiJhYmMifQ. ok", "eyJzdWIiOiJhYmMifQ", "got"),
    (
        "query-code",
        "GET /oauth/callback?state=xyz&code=4/0AX4XfWh-secretcode&scope=email",
        "4/0AX4XfWh-secretcode",
        "scope=email",
    ),
    (
        "form-body",
        "POST body: client_id=123.apps&client_secret=GOCSPX-topsecret1&grant_type=refresh_token"
        "&refresh_token=opaque-refresh-987",
        "GOCSPX-topsecret1",
        "client_id=123.apps",
    ),
    (
        "form-refresh",
        "grant_type=refresh_token&refresh_token=opaque-refresh-987",
        "opaque-refresh-987",
        "grant_type=refresh_token",
    ),
    ("query-access", "https://graph.example/me?access_token=EwBwA8l6BAAU-ms&x=1", "EwBwA8l6BAAU", "x=1"),
    (
        "json-access",
        '{"access_token": "EwBwA8l6BAAU-microsoft-opaque", "token_type": "Bearer", "expires_in": 3599}',
        "EwBwA8l6BAAU-microsoft-opaque",
        '"expires_in": 3599',
    ),
    (
        "json-refresh-escaped",
        '{"refresh_token":"abc\\"def-opaque-refresh","scope":"email"}',
        "def-opaque-refresh",
        '"scope":"email"',
    ),
    ("json-client-secret", '{"client_secret": "GOCSPX-json-secret"}', "GOCSPX-json-secret", "client_secret"),
    ("dict-repr", "{'access_token': 'opaque-dict-token', 'expires_in': 3600}", "opaque-dict-token", "expires_in"),
    (
        "twilio-basic-url",
        "POST https://AC0123456789abcdef0123456789abcdef:twilio-auth-token-123@api.twilio.com/2010-04-01/Accounts.json",
        "twilio-auth-token-123",
        "AC0123456789abcdef0123456789abcdef",
    ),
    (
        "postgres-url",
        "connecting to postgresql://vault:pg-password-1@db.internal:5432/vault",
        "pg-password-1",
        "db.internal:5432",
    ),
]


@pytest.mark.parametrize("message, plaintext, kept", [s[1:] for s in SHAPES], ids=[s[0] for s in SHAPES])
def test_token_shapes_redacted_in_debug_logs(redacting, caplog, message, plaintext, kept):
    logger, _ = redacting
    logger.debug(message)
    assert plaintext not in caplog.text
    assert MASK in caplog.text
    assert kept in caplog.text
    assert plaintext not in caplog.records[-1].getMessage()


@pytest.mark.parametrize("message, plaintext, kept", [s[1:] for s in SHAPES], ids=[s[0] for s in SHAPES])
def test_token_shapes_redacted_when_passed_as_args(redacting, caplog, message, plaintext, kept):
    logger, _ = redacting
    logger.debug("request: %s (%d)", message, 7)
    assert plaintext not in caplog.text and kept in caplog.text and "(7)" in caplog.text


def test_child_logger_records_redacted_by_root_handlers(redacting, caplog):
    logging.getLogger("tests.vault.redact.child.deeper").debug("Bearer childToken123456")
    assert "childToken123456" not in caplog.text


def test_registered_str_secret(redacting, caplog):
    logger, flt = redacting
    twilio_token = "f3e1c2b4a5d6e7f8091a2b3c4d5e6f70"  # no recognisable shape: only registration catches it
    flt.add(twilio_token)
    logger.debug("auth token is %s; again %r", twilio_token, twilio_token)
    logger.debug("basic: %s", base64.b64encode(f"AC1:{twilio_token}".encode()).decode())
    assert twilio_token not in caplog.text
    assert caplog.text.count(MASK) >= 2


def test_registered_bytes_secret_in_every_encoding(redacting, caplog):
    logger, flt = redacting
    kek = bytes(range(200, 232))
    flt.add(kek)
    forms = [base64.b64encode(kek).decode(), base64.urlsafe_b64encode(kek).decode().rstrip("="), kek.hex(), repr(kek)]
    for form in forms:
        logger.debug("key material: %s", form)
    for form in (*forms, repr(kek)[2:-1]):
        assert form not in caplog.text


def test_longest_secret_masked_whole(redacting, caplog):
    logger, flt = redacting
    flt.add("abcd")
    flt.add("abcdefgh-long-secret")
    logger.debug("value abcdefgh-long-secret")
    assert "efgh-long-secret" not in caplog.text


def test_short_secrets_ignored():
    flt = RedactingFilter(["ab", b"x"])
    assert flt.forms == 0
    assert flt.scrub("a cab ride") == "a cab ride"


def test_exception_traceback_scrubbed(redacting, caplog):
    logger, flt = redacting
    secret = "opaque-refresh-in-exception"
    flt.add(secret)
    try:
        raise RuntimeError(f"token endpoint said no to refresh_token={secret} with Bearer ya29.exc-token-value")
    except RuntimeError:
        logger.exception("refresh failed")
    record = caplog.records[-1]
    assert record.exc_info is None and record.exc_text
    for leaked in (secret, "ya29.exc-token-value", "exc-token-value"):
        assert leaked not in caplog.text
        assert leaked not in record.exc_text
        assert leaked not in logging.Formatter().format(record)
    assert "RuntimeError" in caplog.text and "Traceback" in caplog.text


def test_exception_chain_scrubbed(redacting, caplog):
    logger, _ = redacting
    try:
        try:
            raise ValueError('{"access_token": "inner-opaque-token"}')
        except ValueError as inner:
            raise KeyError("wrapped") from inner
    except KeyError:
        logger.debug("failed", exc_info=True)
    assert "inner-opaque-token" not in caplog.text and "ValueError" in caplog.text


def test_extra_fields_scrubbed(redacting, caplog):
    logger, _ = redacting
    logger.debug(
        "request",
        extra={
            "httpRequest": {"headers": {"Authorization": "Bearer extra-token-123456"}, "body": ["code=4/extra-code"]}
        },
    )
    record = caplog.records[-1]
    dumped = json.dumps(record.httpRequest)
    assert "extra-token-123456" not in dumped and "4/extra-code" not in dumped


def test_ordinary_text_untouched(redacting, caplog):
    logger, _ = redacting
    text = (
        "status_code=500 barcode=123 error code 42 after 3 retries; see https://example.com/docs?page=2; "
        "token_type Bearer; user@example.com"
    )
    logger.info(text)
    assert caplog.records[-1].getMessage() == text


def test_bad_format_string_does_not_crash(redacting, caplog):
    logger, _ = redacting
    logger.debug("broken %s %s", "Bearer argtoken123456")
    assert "argtoken123456" not in caplog.text


def test_install_is_idempotent(redacting):
    logger, flt = redacting
    assert install(logger) is flt
    assert logger.filters.count(flt) == 1
    for handler in logging.getLogger().handlers:
        assert handler.filters.count(flt) == 1


def test_install_covers_a_handler_on_the_logger():
    logger = logging.getLogger("tests.vault.redact.own-handler")
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(record)

    handler = Keep()
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    try:
        flt = install(logger)
        logging.getLogger("tests.vault.redact.own-handler.child").debug("Bearer childOwnToken1234")
        assert records and "childOwnToken1234" not in records[-1].getMessage()
    finally:
        logger.removeHandler(handler)
        logger.removeFilter(flt)
        for h in logging.getLogger().handlers:
            h.removeFilter(flt)
        logger.propagate = True


def test_filter_keeps_records():
    record = logging.LogRecord("x", logging.DEBUG, __file__, 1, "Bearer keepme12345678", None, None)
    assert RedactingFilter().filter(record) is True
    assert record.getMessage() == f"Bearer {MASK}"


def test_scrub_text_helper():
    assert scrub_text("pw hunter22 and ya29.abcdefghijkl", ["hunter22"]) == f"pw {MASK} and {MASK}"


# ------------------------------------------------------------------------- the one scrubbing point


def _b64_blob_forms(secret: str) -> list[tuple[str, str]]:
    """base64 of blobs that carry the secret at each byte alignment (a Basic pair, a reflected form body)."""
    out = []
    # short neighbours: their own base64 stays under the 12 characters the test looks for
    for prefix in ("", "u", "us", "usr:", "AC01:"):
        blob = (prefix + secret + "&").encode()
        out += [
            (f"base64-after-{len(prefix)}-bytes", base64.b64encode(blob).decode()),
            (f"base64url-after-{len(prefix)}-bytes", base64.urlsafe_b64encode(blob).decode().rstrip("=")),
        ]
    return out


SECRET = 'Rt7/opaque+refresh=token&value"x'
# Readable ids: a form's own text (quotes, backslashes) makes a node id mutmut cannot select the test by.
REFLECTED = [
    ("raw", SECRET),
    ("url-quoted-all", quote(SECRET, safe="")),
    ("url-quoted", quote(SECRET)),
    ("url-quoted-plus", quote_plus(SECRET)),
    ("url-quoted-twice", quote(quote(SECRET, safe=""), safe="")),
    ("json-escaped", json.dumps(SECRET)[1:-1]),
    ("json-in-json", json.dumps(json.dumps(SECRET))[1:-1]),
    ("html-escaped", html_escape(SECRET)),
    ("hex", SECRET.encode().hex()),
    ("hex-upper", SECRET.encode().hex().upper()),
    *_b64_blob_forms(SECRET),
]


@pytest.mark.parametrize("form", [f for _, f in REFLECTED], ids=[i for i, _ in REFLECTED])
def test_every_reflected_form_is_masked(form):
    redactor = Redactor([SECRET])
    out = redactor.scrub(f"provider says: [{form}] end")
    assert "provider says" in out and "end" in out
    assert SECRET[:10] not in out
    # no 12-character piece of the reflected form survives
    assert not any(form[i : i + 12] in out for i in range(len(form) - 11)), out


def test_a_secret_straddling_the_cut_leaves_nothing():
    redactor = Redactor([SECRET])
    for cut in (20, 30, 40, 50):
        text = "x" * (cut - 10) + SECRET + " tail"
        clipped = redactor.clip(text, cut)
        assert len(clipped) <= cut
        assert SECRET[:6] not in clipped and SECRET[:10] not in clipped


def test_clipping_before_scrubbing_would_have_leaked():
    """The bug clip() fixes: cut first, then scrub, and the secret's head survives."""
    redactor = Redactor([SECRET])
    text = "x" * 190 + SECRET
    assert SECRET[:10] in redactor.scrub(text[:200])  # the old order
    assert SECRET[:10] not in redactor.clip(text, 200)


def test_a_fragment_the_provider_cut_itself_is_masked():
    redactor = Redactor([SECRET])
    assert SECRET[:14] not in redactor.scrub(f"you sent {SECRET[:14]}")
    assert SECRET[-14:] not in redactor.scrub(f"{SECRET[-14:]} was received")


def test_longest_form_first_and_fingerprint_label():
    from checks.core.redact import Scrubber, fingerprint

    scrubber = Scrubber(["short-secret", "short-secret-but-longer"])
    out = scrubber("a short-secret-but-longer b")
    assert out == f"a {fingerprint('short-secret-but-longer')} b"


# A secret that contains another registered secret (a client secret inside a "client_id:client_secret" pair,
# a refresh token inside a longer blob): the long one must be masked whole, not leave its rest behind.
NESTED = [
    ("prefix", "opaque-inner-7f3c", "opaque-inner-7f3c-and-its-outer-tail-91ab"),
    ("middle", "opaque-inner-7f3c", "outer-head-91ab:opaque-inner-7f3c:outer-tail-5d2e"),
    ("suffix", "opaque-inner-7f3c", "outer-head-91ab-wrapping-opaque-inner-7f3c"),
    ("short-form-inside", "inner-5d2e", "outer-head-91ab-inner-5d2e-outer-tail"),
    # shorter than 16 characters (masked only whole) and the first 15 of the outer one: the two spans tie
    ("short-form-prefix", "opaque-inner-7f", "opaque-inner-7f-and-its-outer-tail-91ab"),
]


@pytest.mark.parametrize("short_first", [True, False], ids=["short-registered-first", "long-registered-first"])
@pytest.mark.parametrize("inner, outer", [n[1:] for n in NESTED], ids=[n[0] for n in NESTED])
def test_a_secret_containing_a_shorter_secret_is_masked_whole(inner, outer, short_first):
    assert inner in outer
    redactor = Redactor([inner, outer] if short_first else [outer, inner])
    assert redactor.scrub(f"said [{outer}] then [{inner}] end") == f"said [{MASK}] then [{MASK}] end"


@pytest.mark.parametrize("short_first", [True, False], ids=["short-registered-first", "long-registered-first"])
@pytest.mark.parametrize("inner, outer", [n[1:] for n in NESTED], ids=[n[0] for n in NESTED])
def test_the_whole_outer_secret_gets_its_own_fingerprint_not_the_inner_ones(inner, outer, short_first):
    from checks.core.redact import Scrubber, fingerprint

    scrubber = Scrubber([inner, outer] if short_first else [outer, inner])
    assert scrubber(f"a {outer} b {inner} c") == f"a {fingerprint(outer)} b {fingerprint(inner)} c"


@pytest.mark.parametrize(
    "text, expected",
    [
        ("GET /cb?refresh_token=r-0paque.987&page=2", f"GET /cb?refresh_token={MASK}&page=2"),
        ("GET /cb?token=t-0paque.654&page=2", f"GET /cb?token={MASK}&page=2"),
        ("GET /cb?page=2&token=t-0paque.654", f"GET /cb?page=2&token={MASK}"),
        (
            "https://x.test/a?state=ok&refresh_token=r-1%2F2%2B3&token=t-4%3D5&status_code=400",
            f"https://x.test/a?state=ok&refresh_token={MASK}&token={MASK}&status_code=400",
        ),
        (
            "POST grant_type=refresh_token&refresh_token=r-0paque.987 HTTP/1.1",
            f"POST grant_type=refresh_token&refresh_token={MASK} HTTP/1.1",
        ),
        ("url?Token=t-0paque.654", f"url?Token={MASK}"),
    ],
    ids=["refresh-token", "token", "token-last", "url-encoded-values", "form-body", "any-case"],
)
def test_token_and_refresh_token_in_query_strings_are_masked_to_the_separator(text, expected):
    assert Redactor().scrub(text) == expected


@pytest.mark.parametrize(
    "text, leaked",
    [
        ("GOCSPX-AbCdEf123456_xyz", "AbCdEf123456"),
        ("header eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.sig-value end", "eyJzdWIiOiJ4In0"),
        ("Authorization%3A%20Bearer%20opaquetoken123", "opaquetoken123"),
        ("refresh_token%3Dopaque-refresh-987%26x%3D1", "opaque-refresh-987"),
        ('{\\"access_token\\":\\"nested-json-token\\"}', "nested-json-token"),
        ("Basic QUM6dG9rZW4xMjM0NTY3OA==", "QUM6dG9rZW4xMjM0NTY3OA"),
        ("url?token=abc123def456&page=2", "abc123def456"),
        ("url?refresh_token=abc123def456", "abc123def456"),
    ],
    ids=[
        "google-client-secret",
        "jwt",
        "bearer-url-encoded",
        "refresh-token-url-encoded",
        "json-in-json",
        "basic",
        "query-token",
        "query-refresh-token",
    ],
)
def test_token_shapes_in_encoded_forms(text, leaked):
    assert leaked not in Redactor().scrub(text)


def test_revealed_vault_tokens_are_masked_everywhere():
    from checks.core.redact import Scrubber
    from vault.secret import Secret

    token = "opaque-calendar-token-from-the-vault-1234"
    echo = base64.b64encode(f"Bearer {token}".encode()).decode()
    assert Scrubber()(f"x {token}") == f"x {token}"  # not yet known, and no token shape: nothing to mask
    assert Scrubber()(f"echo {echo}") == f"echo {echo}"
    Secret(token).reveal()
    assert Scrubber()(f"x {token}") == f"x {MASK}"  # the registry's mask, in every Scrubber of the process
    assert echo[8:30] not in Scrubber()(f"echo {echo}")
    assert scrub_text(f"log line {quote(token)}") == f"log line {MASK}"
    assert scrub_text(f"log line {quote(token, safe='')} end") == f"log line {MASK} end"


def test_fingerprints_are_keyed(monkeypatch):
    from vault import redact

    a = redact.fingerprint("hunter22")
    assert a.startswith("fp:") and len(a) == 19
    assert a == redact.fingerprint("hunter22")
    assert hashlib.sha256(b"hunter22").hexdigest()[:16] not in a  # not a bare hash a guess can be checked against
    monkeypatch.setenv("READINESS_FINGERPRINT_KEY", "another-installation-key")
    redact._reset_fingerprint_key()
    assert redact.fingerprint("hunter22") != a


def test_fingerprint_key_file_is_created_private(monkeypatch, tmp_path):
    from vault import redact

    monkeypatch.delenv("READINESS_FINGERPRINT_KEY")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    redact._reset_fingerprint_key()
    first = redact.fingerprint("hunter22")
    path = tmp_path / "readiness" / "fingerprint.key"
    assert path.stat().st_mode & 0o777 == 0o600 and len(path.read_bytes()) == 32
    redact._reset_fingerprint_key()
    assert redact.fingerprint("hunter22") == first  # the same installation, the same names


def test_two_processes_creating_the_fingerprint_key_at_once_end_up_with_the_same_key(monkeypatch, tmp_path):
    """The race on first use: this process finds no key file, and before it creates one another process (a real
    one, running the same code) creates it. This process must then use the other's key, or the two would
    name the same secret differently. The pause is staged by holding this process right after its read found
    nothing (the standard library's ``Path.read_bytes``, which the key file is read with)."""
    import subprocess
    import sys
    from pathlib import Path

    from vault import redact

    monkeypatch.delenv("READINESS_FINGERPRINT_KEY", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    path = tmp_path / "readiness" / "fingerprint.key"
    other: list[str] = []
    real_read = Path.read_bytes

    def read_then_lose_the_race(self):
        try:
            return real_read(self)
        finally:
            if self == path and not other:  # nothing there yet: the other process creates it now
                other.append(
                    subprocess.run(
                        [sys.executable, "-c", "from vault import redact; print(redact.fingerprint('hunter22'))"],
                        check=True,
                        capture_output=True,
                        text=True,
                        env=dict(os.environ),
                    ).stdout.strip()
                )

    monkeypatch.setattr(Path, "read_bytes", read_then_lose_the_race)
    redact._reset_fingerprint_key()
    try:
        ours = redact.fingerprint("hunter22")
    finally:
        redact._reset_fingerprint_key()
    theirs = hmac.new(real_read(path), b"hunter22", hashlib.sha256).hexdigest()[:16]
    assert other == [ours] == ["fp:" + theirs]


@pytest.mark.parametrize("left", [b"", b"31 bytes of a half-written key!"], ids=["empty", "short"])
def test_a_fingerprint_key_file_cut_short_is_never_the_key(monkeypatch, tmp_path, left):
    """A key file a crash left empty or short is not a key: fingerprints under it would be guessable (an empty
    HMAC key) or differ from every other process's. This process uses a random key of its own instead."""
    from vault import redact

    monkeypatch.delenv("READINESS_FINGERPRINT_KEY", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    path = tmp_path / "readiness" / "fingerprint.key"
    path.parent.mkdir()
    path.write_bytes(left)
    redact._reset_fingerprint_key()
    try:
        ours = redact.fingerprint("hunter22")
        assert ours == redact.fingerprint("hunter22")  # stable within the process
    finally:
        redact._reset_fingerprint_key()
    assert ours != "fp:" + hmac.new(left, b"hunter22", hashlib.sha256).hexdigest()[:16]
    assert path.read_bytes() == left  # not overwritten: another process may be finishing it


def test_a_fingerprint_key_path_that_cannot_be_read_gives_a_key_for_this_process(monkeypatch, tmp_path):
    """Something unreadable where the key file should be (here a directory: the file exists, so this process
    cannot create it, and reading it fails again). Fingerprints still work, under a key of this process, and
    the path is left as it is."""
    from vault import redact

    monkeypatch.delenv("READINESS_FINGERPRINT_KEY", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    path = tmp_path / "readiness" / "fingerprint.key"
    path.mkdir(parents=True)
    redact._reset_fingerprint_key()
    try:
        ours = redact.fingerprint("hunter22")
        assert ours.startswith("fp:") and ours == redact.fingerprint("hunter22")
    finally:
        redact._reset_fingerprint_key()
    assert path.is_dir() and list(path.iterdir()) == []


def test_the_cli_installs_the_redacting_filter(tmp_path):
    import subprocess
    import sys

    script = (
        "import logging, checks.shell.cli as c\n"
        "from vault.redact import remember\n"
        "remember('opaque-secret-value-123456')\n"
        "c.app_for = lambda args: lambda: logging.getLogger('httpx').warning("
        "'POST body client_secret=x&y=opaque-secret-value-123456 and %s', 'b3BhcXVlLXNlY3JldC12YWx1ZS0xMjM0NTY=')\n"
        "c.main()\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert "POST body" in proc.stderr
    assert "opaque-secret-value" not in proc.stderr and "b3BhcXVlLXNlY3JldC12YWx1" not in proc.stderr


def test_a_token_sharing_a_registered_tokens_prefix_is_masked_whole():
    """Every Google token starts ``ya29.a0``: a registered one must not turn the next one's head into a mask
    and leave its body for the token shapes to miss."""
    redactor = Redactor(["ya29.a0selftest-registered-token-1"])
    out = redactor.scrub("token ya29.a0selftest-OTHERtokenbody99 end")
    assert "OTHERtokenbody99" not in out and out == "token *** end"


def test_a_long_lived_process_forgets_the_oldest_secret_past_the_cap(monkeypatch):
    from vault import redact

    monkeypatch.setattr(redact, "MAX_SECRETS", 3)
    r = Redactor(inherit=False)
    for n in range(5):
        r.add(f"rotating-refresh-token-number-{n}")
    out = r.scrub(" ".join(f"rotating-refresh-token-number-{n}" for n in range(5)))
    assert "rotating-refresh-token-number-0" in out and "rotating-refresh-token-number-1" in out  # forgotten
    assert "number-4" not in out and "number-2" not in out  # the newest three are still masked
    r.add("rotating-refresh-token-number-4")  # known already: not counted twice
    assert len(r._by_secret) == 3


def test_the_vault_self_test_teaches_the_scrubber_nothing(tmp_path):
    from vault import redact
    from vault.keys import StaticKeySource
    from vault.selftest import run

    redact.forget_all()
    key = bytes(range(40, 72))
    report = run(StaticKeySource(key))
    assert report.ok, [(r.name, r.detail) for r in report.failed]
    # its scratch tokens never leave the vault: a sweep that runs it every time must not grow the registry
    assert len(redact.process_redactor()._by_secret) == 0


def test_a_text_once_clean_is_masked_after_its_secret_is_registered_here():
    r = Redactor(inherit=False)
    line = "GET https://api.example.test/v1/Zq8-later-registered-value answered 200"
    for _ in range(2):  # scrubbed twice: the second time is answered from what the first learnt
        assert r.scrub(line) == line
        assert r.scrub("Zq8-later-registered-value") == "Zq8-later-registered-value"
        assert r.scrub("status_code") == "status_code"
    r.add("Zq8-later-registered-value")
    assert r.scrub(line) == f"GET https://api.example.test/v1/{MASK} answered 200"
    assert r.scrub("Zq8-later-registered-value") == MASK  # what was clean a moment ago is not any more
    assert r.scrub("status_code") == "status_code"


def test_a_text_once_clean_is_masked_after_its_secret_reaches_the_process_registry():
    from vault import redact

    redact.forget_all()
    r = Redactor()
    text = "evidence value Pw-taught-to-the-registry-later"
    assert r.scrub(text) == text
    assert r.clip(text, 200) == text
    redact.remember("Pw-taught-to-the-registry-later")
    try:
        assert r.scrub(text) == f"evidence value {MASK}"
        assert r.clip(text, 200) == f"evidence value {MASK}"
    finally:
        redact.forget_all()
    assert r.scrub(text) == text  # forgotten by the registry: shown again, as before it was taught


# ------------------------------------------------------------------------- each form masked whole

WORDY = 'Rt7/opaque+refresh=tökén&value"x'
"""A secret with every character an encoding treats specially: ``/ + = & "`` and non-ASCII letters."""
WORDY_RAW = WORDY.encode()
WHOLE_FORMS = [
    ("raw", WORDY),
    ("html-escaped", html_escape(WORDY)),
    ("json-escaped", json.dumps(WORDY)[1:-1]),
    ("json-escaped-utf8", json.dumps(WORDY, ensure_ascii=False)[1:-1]),
    ("json-string-inside-json", json.dumps(json.dumps(WORDY)[1:-1])[1:-1]),
    ("json-escaped-slashes", json.dumps(WORDY)[1:-1].replace("/", "\\/")),
    ("url-quoted-all", quote(WORDY, safe="")),
    ("url-quoted", quote(WORDY)),
    ("url-quoted-plus", quote_plus(WORDY)),
    ("url-quoted-twice", quote(quote(WORDY, safe=""), safe="")),
    ("hex", WORDY_RAW.hex()),
    ("hex-upper", WORDY_RAW.hex().upper()),
    ("bytes-repr", repr(WORDY_RAW)[2:-1]),
    ("base64", base64.b64encode(WORDY_RAW).decode()),
    ("base64-unpadded", base64.b64encode(WORDY_RAW).decode().rstrip("=")),
    ("base64url-unpadded", base64.urlsafe_b64encode(WORDY_RAW).decode().rstrip("=")),
]


@pytest.mark.parametrize("form", [f for _, f in WHOLE_FORMS], ids=[i for i, _ in WHOLE_FORMS])
def test_each_form_of_a_secret_is_masked_to_the_last_character(form):
    """Not one character of the secret is left beside the mask, whichever way the provider encoded it."""
    assert Redactor([WORDY], inherit=False).scrub(f"said [{form}] end") == f"said [{MASK}] end"


ESCAPED_FIRST = 'ö/"opaque-refresh-token-1234'
"""Starts with a character JSON escapes, then a ``/`` (so the ``\\/`` variant differs from the plain escape)."""


@pytest.mark.parametrize(
    "reflected",
    [json.dumps(ESCAPED_FIRST)[1:-1], json.dumps(json.dumps(ESCAPED_FIRST)[1:-1])[1:-1]],
    ids=["json-escaped", "json-string-inside-json"],
)
def test_a_json_escape_at_the_start_of_a_secret_is_masked_too(reflected):
    """The mask must cover the escape's backslashes too."""
    assert reflected.startswith("\\u00f6") or reflected.startswith("\\\\u00f6")
    assert Redactor([ESCAPED_FIRST], inherit=False).scrub(f"said [{reflected}] end") == f"said [{MASK}] end"


def test_a_secret_given_as_bytes_is_masked_as_text_too():
    secret = "pässword-opaque-refresh-99".encode()
    redactor = Redactor([secret], inherit=False)
    assert redactor.scrub("got pässword-opaque-refresh-99 back") == f"got {MASK} back"
    assert redactor.scrub('{"t": "p\\u00e4ssword-opaque-refresh-99"}') == '{"t": "***"}'


SHORT = "pa>>word"  # its base64 has a "+": three different short forms, each only ever masked whole


@pytest.mark.parametrize(
    "form", ["cGE+PndvcmQ=", "cGE+PndvcmQ", "cGE-PndvcmQ"], ids=["base64", "base64-unpadded", "base64url-unpadded"]
)
def test_a_short_secret_in_base64_is_masked_whole(form):
    assert base64.urlsafe_b64decode(form.replace("+", "-") + "=" * (-len(form) % 4)) == SHORT.encode()
    assert Redactor([SHORT], inherit=False).scrub(f"got {form} end") == f"got {MASK} end"  # no "Basic": no shape


@pytest.mark.parametrize("length", [30, 31, 32], ids=["length-0-mod-3", "length-1-mod-3", "length-2-mod-3"])
@pytest.mark.parametrize("prefix", ["", "u", "us"], ids=["aligned", "after-1-byte", "after-2-bytes"])
def test_a_secret_inside_a_larger_base64_blob_is_masked_at_every_alignment(length, prefix):
    secret = ("opaque-refresh-" + "7f3c91ab5d2e4a6b8c0d")[:length]
    blob = base64.b64encode(f"{prefix}{secret}&x=1".encode()).decode()
    out = Redactor([secret], inherit=False).scrub(f"body {blob} end")
    assert not any(blob[i : i + 12] in out for i in range(4, len(blob) - 16)), out


def test_a_short_secret_is_masked_at_every_occurrence():
    assert Redactor(["hunter22"], inherit=False).scrub("hunter22 hunter22 hunter22 hunter22") == " ".join([MASK] * 4)


def test_a_provider_cut_tail_is_masked_at_every_occurrence():
    tail = SECRET[-14:]
    assert Redactor([SECRET], inherit=False).scrub(f"{tail} / {tail} / {tail}") == f"{MASK} / {MASK} / {MASK}"


@pytest.mark.parametrize("before", [":", "[", " ", "x:"], ids=["colon", "bracket", "space", "word-then-colon"])
def test_a_provider_cut_tail_after_punctuation_is_masked(before):
    tail = "refresh-token-value-91ab"
    secret = "Rt7-opaque-" + tail
    assert Redactor([secret], inherit=False).scrub(f"said{before}{tail}") == f"said{before}{MASK}"


def test_a_provider_cut_tail_that_starts_the_text_is_masked_and_the_rest_kept():
    secret = "Rt7-opaque-refresh-token-value-91ab"
    tail = secret[-16:]
    last = secret[-17]  # the character before the cut: a text ending with it must not pull the mask around
    assert Redactor([secret], inherit=False).scrub(f"{tail} and {last}") == f"{MASK} and {last}"


# ------------------------------------------------------------------------- the log filter's edges


def test_a_record_formatted_before_the_filter_keeps_no_secret_in_its_message():
    """A handler earlier in the chain formatted the record (``record.message`` set): that copy is scrubbed too."""
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "token %s", ("Bearer preformatted-123456",), None)
    record.message = record.getMessage()
    RedactingFilter().filter(record)
    assert record.message == f"token Bearer {MASK}" == record.getMessage()


def test_extra_fields_keep_their_shape_and_plain_values():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "request", None, None)
    record.ctx = {
        "attempt": 3,
        "ok": False,
        "headers": ("Authorization: Bearer extra-token-123456", 7),
        "body": ["a=1", "code=4/extra-code"],
        "deep": {"a": {"b": {"c": {"d": "Bearer deep-token-123456"}}}},
    }
    RedactingFilter().filter(record)
    assert record.ctx == {
        "attempt": 3,
        "ok": False,
        "headers": (f"Authorization: Bearer {MASK}", 7),
        "body": ["a=1", f"code={MASK}"],
        "deep": {"a": {"b": {"c": {"d": f"Bearer {MASK}"}}}},
    }


def test_a_self_referencing_extra_field_does_not_break_logging(redacting, caplog):
    logger, _ = redacting
    loop: list = ["Bearer loop-token-123456"]
    loop.append(loop)
    cycle: dict = {"token": "Bearer cycle-token-123456"}
    cycle["self"] = cycle
    logger.info("cyclic extras", extra={"loop": loop, "cycle": cycle})
    record = caplog.records[-1]
    assert record.getMessage() == "cyclic extras"
    assert record.loop[0] == f"Bearer {MASK}" and record.cycle["token"] == f"Bearer {MASK}"


# ------------------------------------------------------------------------- where the fingerprint key lives


def test_the_fingerprint_key_defaults_to_a_private_directory_under_home_config(monkeypatch, tmp_path):
    from vault import redact

    monkeypatch.delenv("READINESS_FINGERPRINT_KEY", raising=False)
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    redact._reset_fingerprint_key()
    try:
        first = redact.fingerprint("hunter22")
        directory = tmp_path / ".config" / "readiness"
        assert (directory / "fingerprint.key").stat().st_mode & 0o777 == 0o600
        assert directory.stat().st_mode & 0o777 == 0o700
        redact._reset_fingerprint_key()
        assert redact.fingerprint("hunter22") == first
    finally:
        redact._reset_fingerprint_key()


def test_a_token_nested_deeper_than_the_filter_walks_is_still_scrubbed():
    """Past six levels the filter stops walking an ``extra`` value and keeps its scrubbed text instead."""
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "request", None, None)
    deep: object = "Bearer very-deep-token-123456"
    for _ in range(8):
        deep = {"next": [deep]}
    record.ctx = deep
    RedactingFilter().filter(record)
    assert "very-deep-token-123456" not in repr(record.ctx) and f"Bearer {MASK}" in repr(record.ctx)
    assert (
        record.ctx["next"][0]["next"][0]["next"][0] == "{'next': [{'next': [{'next': [{'next': [{'next': "
        f"['Bearer {MASK}']}}]}}]}}]}}]}}"
    )


def test_a_record_is_scrubbed_once_per_filter_yet_by_every_filter_it_meets():
    """One filter on a logger and on its handler scrubs a line once; a second filter that knows another secret
    still masks its own in the same record."""
    first, second = RedactingFilter(["alpha-secret-0001"]), RedactingFilter(["bravo-secret-0002"])
    record = logging.LogRecord(
        "x", logging.INFO, __file__, 1, "%s and %s", ("alpha-secret-0001", "bravo-secret-0002"), None
    )
    assert first.filter(record) and first.filter(record)
    once = record.getMessage()
    assert "alpha-secret-0001" not in once and "bravo-secret-0002" in once
    second.filter(record)
    assert "bravo-secret-0002" not in record.getMessage() and "alpha-secret-0001" not in record.getMessage()
