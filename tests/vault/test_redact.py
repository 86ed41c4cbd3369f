"""The redacting log filter: DEBUG logs captured through it hold no token and no registered secret."""

from __future__ import annotations

import base64
import json
import logging

import pytest

from vault.redact import MASK, RedactingFilter, install, scrub_text


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
    ("jwt", "id_token eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJlLXZhbHVl end",
     "eyJzdWIiOiIxMjM0In0", "end"),
    ("jwt-unsigned", "got eyJhbGciOiJub25lIn0.eyJzdWIiOiJhYmMifQ. ok", "eyJzdWIiOiJhYmMifQ", "got"),
    ("query-code", "GET /oauth/callback?state=xyz&code=4/0AX4XfWh-secretcode&scope=email",
     "4/0AX4XfWh-secretcode", "scope=email"),
    ("form-body", "POST body: client_id=123.apps&client_secret=GOCSPX-topsecret1&grant_type=refresh_token"
     "&refresh_token=opaque-refresh-987", "GOCSPX-topsecret1", "client_id=123.apps"),
    ("form-refresh", "grant_type=refresh_token&refresh_token=opaque-refresh-987", "opaque-refresh-987",
     "grant_type=refresh_token"),
    ("query-access", "https://graph.example/me?access_token=EwBwA8l6BAAU-ms&x=1", "EwBwA8l6BAAU", "x=1"),
    ("json-access", '{"access_token": "EwBwA8l6BAAU-microsoft-opaque", "token_type": "Bearer", "expires_in": 3599}',
     "EwBwA8l6BAAU-microsoft-opaque", '"expires_in": 3599'),
    ("json-refresh-escaped", '{"refresh_token":"abc\\"def-opaque-refresh","scope":"email"}', "def-opaque-refresh",
     '"scope":"email"'),
    ("json-client-secret", '{"client_secret": "GOCSPX-json-secret"}', "GOCSPX-json-secret", "client_secret"),
    ("dict-repr", "{'access_token': 'opaque-dict-token', 'expires_in': 3600}", "opaque-dict-token", "expires_in"),
    ("twilio-basic-url", "POST https://AC0123456789abcdef0123456789abcdef:twilio-auth-token-123@api.twilio.com/"
     "2010-04-01/Accounts.json", "twilio-auth-token-123", "AC0123456789abcdef0123456789abcdef"),
    ("postgres-url", "connecting to postgresql://vault:pg-password-1@db.internal:5432/vault", "pg-password-1",
     "db.internal:5432"),
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
    logger.debug("request", extra={"httpRequest": {"headers": {"Authorization": "Bearer extra-token-123456"},
                                                   "body": ["code=4/extra-code"]}})
    record = caplog.records[-1]
    dumped = json.dumps(record.httpRequest)
    assert "extra-token-123456" not in dumped and "4/extra-code" not in dumped


def test_ordinary_text_untouched(redacting, caplog):
    logger, _ = redacting
    text = ("status_code=500 barcode=123 error code 42 after 3 retries; see https://example.com/docs?page=2; "
            "token_type Bearer; user@example.com")
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
