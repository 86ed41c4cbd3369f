"""AES-256-GCM envelope primitives: published vectors, layout, nonces, tampering, key wrapping."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import given, settings
from hypothesis import strategies as st

from vault.crypto import (
    KEY_BYTES,
    NONCE_BYTES,
    credential_aad,
    derive_key,
    hmac_fingerprint,
    kek_fingerprint,
    new_key,
    open_blob,
    seal,
    unwrap_key,
    wrap_key,
)
from vault.errors import IntegrityError

# McGrew & Viega, "The Galois/Counter Mode of Operation (GCM)", Appendix B, Test Case 16:
# 256-bit key, 96-bit IV, 60-byte plaintext, 20 bytes of associated data.
TC16 = {
    "key": "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
    "iv": "cafebabefacedbaddecaf888",
    "plaintext": "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
    "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
    "aad": "feedfacedeadbeeffeedfacedeadbeefabaddad2",
    "ciphertext": "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
    "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
    "tag": "76fc6ece0f4e1768cddf8853bb2d551b",
}
# NIST CAVP gcmEncryptExtIV256.rsp (Keylen 256, IVlen 96, PTlen 128, AADlen 160).
CAVP = {
    "key": "83688deb4af8007f9b713b47cfa6c73e35ea7a3aa4ecdb414dded03bf7a0fd3a",
    "iv": "0b459724904e010a46901cf3",
    "plaintext": "33d893a2114ce06fc15d55e454cf90c3",
    "aad": "794a14ccd178c8ebfd1379dc704c5e208f9d8424",
    "ciphertext": "cc66bee423e3fcd4c0865715e9586696",
    "tag": "0fb291bd3dba94a1dfd8b286cfb97ac5",
}
VECTORS = pytest.mark.parametrize("vector", [TC16, CAVP], ids=["mcgrew-viega-tc16", "nist-cavp-256"])

KEY = bytes(range(1, 33))
AAD = credential_aad("acme", "google", "cred-1", "access_token", 1)


def _hex(vector: dict[str, str], name: str) -> bytes:
    return bytes.fromhex(vector[name])


@VECTORS
def test_known_answer_through_raw_aesgcm(vector):
    out = AESGCM(_hex(vector, "key")).encrypt(_hex(vector, "iv"), _hex(vector, "plaintext"), _hex(vector, "aad"))
    assert out == _hex(vector, "ciphertext") + _hex(vector, "tag")


@VECTORS
def test_known_answer_through_blob_layout(vector):
    # version byte || nonce || ciphertext || tag, built by hand from the published values
    blob = b"\x01" + _hex(vector, "iv") + _hex(vector, "ciphertext") + _hex(vector, "tag")
    assert open_blob(_hex(vector, "key"), blob, _hex(vector, "aad")) == _hex(vector, "plaintext")


@VECTORS
def test_known_answer_wrong_tag_refused(vector):
    tag = bytearray(_hex(vector, "tag"))
    tag[0] ^= 0x80
    blob = b"\x01" + _hex(vector, "iv") + _hex(vector, "ciphertext") + bytes(tag)
    with pytest.raises(IntegrityError):
        open_blob(_hex(vector, "key"), blob, _hex(vector, "aad"))


def test_seal_layout_decodes_with_raw_aesgcm():
    blob = seal(KEY, b"ya29.secret-token", AAD)
    assert blob[0] == 1
    assert len(blob) == 1 + NONCE_BYTES + len(b"ya29.secret-token") + 16
    nonce, body = blob[1 : 1 + NONCE_BYTES], blob[1 + NONCE_BYTES :]
    assert AESGCM(KEY).decrypt(nonce, body, AAD) == b"ya29.secret-token"


def test_round_trip_returns_bytearray():
    out = open_blob(KEY, seal(KEY, b"hello", AAD), AAD)
    assert isinstance(out, bytearray)
    assert out == b"hello"


def test_round_trip_empty_plaintext():
    assert open_blob(KEY, seal(KEY, b"", b""), b"") == b""


def test_fresh_nonce_each_seal():
    nonces = {seal(KEY, b"same", AAD)[1 : 1 + NONCE_BYTES] for _ in range(10_000)}
    assert len(nonces) == 10_000


def test_same_plaintext_gives_different_ciphertexts():
    assert seal(KEY, b"same", AAD) != seal(KEY, b"same", AAD)


def _flip(blob: bytes, index: int) -> bytes:
    b = bytearray(blob)
    b[index] ^= 0x01
    return bytes(b)


BLOB = seal(KEY, b"refresh-token-value", AAD)
TAMPERED = {
    "version-byte": (_flip(BLOB, 0), AAD),
    "nonce": (_flip(BLOB, 1 + 5), AAD),
    "ciphertext": (_flip(BLOB, 1 + NONCE_BYTES + 2), AAD),
    "tag": (_flip(BLOB, len(BLOB) - 1), AAD),
    "aad": (BLOB, credential_aad("acme", "google", "cred-1", "refresh_token", 1)),
    "other-tenant": (BLOB, credential_aad("globex", "google", "cred-1", "access_token", 1)),
    "same-tenant-other-provider": (BLOB, credential_aad("acme", "microsoft", "cred-1", "access_token", 1)),
    "other-credential": (BLOB, credential_aad("acme", "google", "cred-2", "access_token", 1)),
    "dek-version": (BLOB, credential_aad("acme", "google", "cred-1", "access_token", 2)),
    "truncated": (BLOB[:-1], AAD),
    "too-short": (BLOB[: 1 + NONCE_BYTES + 15], AAD),
    "empty": (b"", AAD),
}


@pytest.mark.parametrize("name", list(TAMPERED))
def test_tampering_is_one_opaque_error(name):
    blob, aad = TAMPERED[name]
    with pytest.raises(IntegrityError) as info:
        open_blob(KEY, blob, aad)
    assert str(info.value) == "ciphertext failed authentication"
    # no chained InvalidTag (or anything else) that a traceback would show
    assert info.value.__cause__ is None
    assert info.value.__context__ is None or info.value.__suppress_context__


def test_wrong_key_refused():
    with pytest.raises(IntegrityError):
        open_blob(bytes(32), BLOB, AAD)


def test_key_length_enforced():
    with pytest.raises(ValueError, match="32 bytes"):
        seal(b"short", b"x", b"")


KEK = bytes(range(100, 132))
KEK_FP = kek_fingerprint(KEK)


def test_wrap_unwrap_round_trip():
    dek = new_key()
    wrapped = wrap_key(KEK, dek, "acme", 1, KEK_FP)
    assert dek not in wrapped
    assert unwrap_key(KEK, wrapped, "acme", 1, KEK_FP) == dek


@pytest.mark.parametrize(
    "tenant, version, fp, purpose",
    [
        ("globex", 1, KEK_FP, "dek"),
        ("acme", 2, KEK_FP, "dek"),
        ("acme", 1, kek_fingerprint(bytes(range(1, 33))), "dek"),
        ("acme", 1, KEK_FP, "audit"),
    ],
    ids=["other-tenant", "other-version", "other-kek-fingerprint", "other-purpose"],
)
def test_wrapped_key_is_bound(tenant, version, fp, purpose):
    wrapped = wrap_key(KEK, new_key(), "acme", 1, KEK_FP)
    with pytest.raises(IntegrityError):
        unwrap_key(KEK, wrapped, tenant, version, fp, purpose=purpose)


def test_unwrap_with_another_kek_refused():
    wrapped = wrap_key(KEK, new_key(), "acme", 1, KEK_FP)
    with pytest.raises(IntegrityError):
        unwrap_key(bytes(range(1, 33)), wrapped, "acme", 1, KEK_FP)


def test_new_key_is_random_32_bytes():
    a, b = new_key(), new_key()
    assert isinstance(a, bytearray) and len(a) == KEY_BYTES and a != b


def test_kek_fingerprint_stable_and_not_the_key():
    fp = kek_fingerprint(KEK)
    assert fp == kek_fingerprint(bytearray(KEK))
    assert fp.startswith("kek:") and len(fp) == 4 + 16
    assert fp != kek_fingerprint(bytes(range(1, 33)))
    assert KEK.hex()[:16] not in fp


def test_hmac_fingerprint_stable_and_key_dependent():
    k1, k2 = derive_key(KEK, "audit-chain"), derive_key(KEK, "other")
    assert k1 != k2 and len(k1) == KEY_BYTES
    fp = hmac_fingerprint(k1, b"ya29.token")
    assert fp == hmac_fingerprint(k1, bytearray(b"ya29.token"))
    assert fp.startswith("hmac:") and len(fp) == 5 + 16
    assert fp != hmac_fingerprint(k2, b"ya29.token")
    assert fp != hmac_fingerprint(k1, b"ya29.token2")
    assert "ya29" not in fp


def test_derive_key_is_deterministic():
    assert derive_key(KEK, "audit-chain") == derive_key(bytearray(KEK), "audit-chain")


@settings(max_examples=200, deadline=None)
@given(plaintext=st.binary(max_size=512), aad=st.binary(max_size=128), data=st.data())
def test_property_round_trip_and_any_bit_flip_fails(plaintext, aad, data):
    blob = seal(KEY, plaintext, aad)
    assert open_blob(KEY, blob, aad) == plaintext
    bit = data.draw(st.integers(min_value=0, max_value=len(blob) * 8 - 1), label="bit")
    tampered = bytearray(blob)
    tampered[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(IntegrityError):
        open_blob(KEY, bytes(tampered), aad)


@settings(max_examples=100, deadline=None)
@given(plaintext=st.binary(max_size=64), aad=st.binary(min_size=1, max_size=64), data=st.data())
def test_property_aad_bit_flip_fails(plaintext, aad, data):
    blob = seal(KEY, plaintext, aad)
    bit = data.draw(st.integers(min_value=0, max_value=len(aad) * 8 - 1), label="bit")
    other = bytearray(aad)
    other[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(IntegrityError):
        open_blob(KEY, blob, bytes(other))
