"""Secret and TokenSet: masked everywhere, wipeable, not picklable, compared in constant time."""

from __future__ import annotations

import copy
import hmac
import logging
import pickle
from datetime import UTC, datetime

import pytest

from vault.secret import Secret, TokenSet

TOKEN = "ya29.a0AfH6SMBx-plaintext-token"


def test_repr_str_format_fstring_are_masked():
    s = Secret(TOKEN)
    old_style = ["%s" % s, "%r" % s, "{}".format(s)]  # noqa: UP031, UP032  # every formatting route on purpose
    shown = [
        repr(s),
        str(s),
        format(s),
        format(s, ">40"),
        f"{s}",
        f"{s!r}",
        f"{s!s}",
        *old_style,
        repr([s]),
        repr({"t": s}),
    ]
    for text in shown:
        assert TOKEN not in text
        assert "ya29" not in text
    assert repr(s) == "Secret(***)"


def test_logging_shows_mask(caplog):
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("t").debug("token %s %r", Secret(TOKEN), Secret(TOKEN))
    assert TOKEN not in caplog.text and "Secret(***)" in caplog.text


def test_reveal_is_explicit():
    s = Secret(TOKEN)
    assert s.reveal() == TOKEN
    assert s.reveal_bytes() == TOKEN.encode()
    assert len(s) == len(TOKEN)


def test_pickle_refused():
    with pytest.raises(TypeError, match="pickle"):
        pickle.dumps(Secret(TOKEN))


def test_copy_refused():
    # copy goes through __reduce__ as well: no silent unwiped duplicate
    with pytest.raises(TypeError):
        copy.copy(Secret(TOKEN))


def test_not_hashable():
    with pytest.raises(TypeError):
        hash(Secret(TOKEN))


def test_wipe_zeroes_buffer_and_blocks_reveal():
    s = Secret(TOKEN)
    buf = s.buffer()
    s.wipe()
    assert buf == bytearray(len(TOKEN))
    assert s.wiped
    assert repr(s) == "Secret(wiped)"
    for read in (s.reveal, s.reveal_bytes, s.buffer):
        with pytest.raises(ValueError, match="wiped"):
            read()
    with pytest.raises(ValueError):
        _ = s.fingerprint


def test_with_block_wipes():
    with Secret(TOKEN) as s:
        buf = s.buffer()
        assert s.reveal() == TOKEN
    assert s.wiped and not any(buf)


def test_bytearray_input_is_copied_and_callers_buffer_zeroed():
    source = bytearray(TOKEN.encode())
    s = Secret(source)
    assert source == bytearray(len(TOKEN))
    assert s.reveal() == TOKEN


def test_fingerprint_stable_and_not_plaintext():
    fp = Secret(TOKEN).fingerprint
    assert fp == Secret(TOKEN).fingerprint
    assert fp != Secret(TOKEN + "x").fingerprint
    assert TOKEN not in fp and fp.startswith("fp:")


def test_equality_uses_compare_digest(monkeypatch):
    calls = []
    real = hmac.compare_digest

    def spy(a, b):
        calls.append((type(a), type(b)))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)  # the stdlib function, observed not replaced
    assert Secret(TOKEN) == Secret(TOKEN)
    assert Secret(TOKEN) != Secret(TOKEN + "x")
    assert Secret(TOKEN) != TOKEN  # never equal to a plain string
    assert len(calls) == 2


def _tokens() -> TokenSet:
    return TokenSet(
        tenant="acme",
        provider="google",
        account="ops@acme.test",
        credential_id="cred-1",
        access_token=Secret(TOKEN),
        refresh_token=Secret("1//0refresh-plaintext"),
        expires_at=datetime(2025, 10, 6, 10, tzinfo=UTC),
        scopes=["email"],
    )


def test_tokenset_repr_masked():
    ts = _tokens()
    for text in (repr(ts), str(ts), f"{ts}", repr([ts])):
        assert TOKEN not in text and "1//0refresh" not in text
        assert "acme" in text and "Secret(***)" in text


def test_tokenset_wipe_wipes_both():
    with _tokens() as ts:
        access, refresh = ts.access_token, ts.refresh_token
    assert access.wiped and refresh is not None and refresh.wiped


def test_tokenset_without_refresh_token():
    ts = TokenSet(tenant="t", provider="p", account="a", credential_id="c", access_token=Secret(TOKEN))
    assert "refresh_token=None" in repr(ts)
    ts.wipe()
    assert ts.access_token.wiped
