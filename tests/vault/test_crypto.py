"""AES-256-GCM envelope primitives: published vectors, layout, nonces, tampering, key wrapping."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from hypothesis import given, settings
from hypothesis import strategies as st

from vault.crypto import (
    KEY_BYTES,
    NONCE_BYTES,
    _key_aad,
    credential_aad,
    derive_key,
    hmac_fingerprint,
    kek_fingerprint,
    new_key,
    open_blob,
    reseal_aads,
    seal,
    unwrap_key,
    wrap_key,
)
from vault.errors import IntegrityError
from vault.store import Vault

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


# Our envelope format, pinned: a token field and a wrapped DEK as a vault stores them (fixed keys and nonces,
# built once with AES-GCM and the associated data spelled out below). A stored credential from an earlier
# release must still open: a change to the blob layout, the AAD's fields or their serialisation, or the
# wrap's binding fails these.
STORED_DEK = bytes(range(0x40, 0x60))
STORED_FIELD_AAD = (
    b'{"credential":"cred-0001","dek_version":1,"field":"access","provider":"google","tenant":"acme","v":1}'
)
STORED_FIELD = bytes.fromhex(
    "01000102030405060708090a0b43645e4159ed748da97cefb5d6c0add5f0b3487b412dce308b539bbb35de023b2e83af8bbf3b"
    "aa62fcfddaac0f1e455de0"
)
STORED_PLAINTEXT = b"ya29.a0-known-answer-access-token"
STORED_KEK = bytes(range(0xA0, 0xC0))
STORED_KEK_FP = "kek:e1a68fef0423231d"
STORED_WRAPPED_DEK = bytes.fromhex(
    "010c0d0e0f10111213141516173e953efa0f0b0b98556d2357c5d4a55bf7fd5f9e776b3da6e142ddfd7ced2ce31b264c0f0bc4"
    "4226680a4e1a8435f384"
)


def test_a_field_sealed_by_an_earlier_release_opens_through_our_code():
    aad = credential_aad("acme", "google", "cred-0001", "access", 1)
    assert aad == STORED_FIELD_AAD
    assert open_blob(STORED_DEK, STORED_FIELD, aad) == STORED_PLAINTEXT
    # and through the vault's own field path, which builds the AAD itself
    assert Vault._open_field(STORED_DEK, "acme", "google", "cred-0001", "access", 1, STORED_FIELD) == STORED_PLAINTEXT


def test_a_dek_wrapped_by_an_earlier_release_unwraps_through_our_code():
    assert kek_fingerprint(STORED_KEK) == STORED_KEK_FP
    assert unwrap_key(STORED_KEK, STORED_WRAPPED_DEK, "acme", 1, STORED_KEK_FP) == STORED_DEK


@pytest.mark.parametrize(
    "index", [0, 1, len(STORED_FIELD_AAD) // 2, len(STORED_FIELD_AAD) - 1], ids=["first", "second", "middle", "last"]
)
def test_the_stored_field_with_one_aad_byte_changed_does_not_open(index):
    aad = bytearray(STORED_FIELD_AAD)
    aad[index] ^= 0x20
    with pytest.raises(IntegrityError, match="^ciphertext failed authentication$"):
        open_blob(STORED_DEK, STORED_FIELD, bytes(aad))


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
    # cut inside the nonce: too short for AES-GCM to be asked at all (it would raise ValueError, not ours)
    "version-byte-only": (BLOB[:1], AAD),
    "cut-in-nonce": (BLOB[:6], AAD),
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
AUDIT_CHAIN_SUBKEY_OF_KEK = "db410b8ac253a72ce4ce5c44fc2c6b3abbf5ca294292fb7211907771c861aa4a"
"""HKDF-SHA256(KEK, salt none, info "readiness/audit-chain/v1", 32 bytes), computed with ``_hkdf_rfc5869``."""


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


def test_a_wrapped_value_that_is_not_a_key_is_the_same_opaque_error():
    """Authentic under the KEK and bound right, but 16 bytes: refused exactly like a forged blob."""
    wrapped = seal(KEK, bytes(16), _key_aad("acme", 1, KEK_FP, "dek"))
    with pytest.raises(IntegrityError) as info:
        unwrap_key(KEK, wrapped, "acme", 1, KEK_FP)
    assert str(info.value) == "ciphertext failed authentication"


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


def _hkdf_rfc5869(ikm: bytes, salt: bytes, info: bytes, length: int) -> bytes:
    """HKDF-SHA256 written out from RFC 5869 §2.2 (extract) and §2.3 (expand), independent of our code."""
    prk = hmac.new(salt or bytes(32), ikm, hashlib.sha256).digest()  # no salt: HashLen zero bytes
    okm, block = b"", b""
    for counter in range(1, -(-length // 32) + 1):
        block = hmac.new(prk, block + info + bytes([counter]), hashlib.sha256).digest()
        okm += block
    return okm[:length]


RFC5869_CASE_1 = {
    "ikm": bytes([0x0B] * 22),
    "salt": bytes(range(0x00, 0x0D)),
    "info": bytes(range(0xF0, 0xFA)),
    "okm": bytes.fromhex("3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"),
}


def test_hkdf_rfc5869_test_case_1_through_the_reference_and_the_library_call_we_make():
    case = RFC5869_CASE_1
    assert _hkdf_rfc5869(case["ikm"], case["salt"], case["info"], 42) == case["okm"]
    # the HKDF class and hash derive_key uses, with the RFC's salt and info (derive_key fixes both)
    okm = HKDF(algorithm=hashes.SHA256(), length=42, salt=case["salt"], info=case["info"]).derive(case["ikm"])
    assert okm == case["okm"]


RFC5869_CASE_3 = {  # no salt and no info: the salt derive_key uses (none: HashLen zero bytes)
    "ikm": bytes([0x0B] * 22),
    "okm": bytes.fromhex("8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8"),
}


def test_hkdf_rfc5869_test_case_3_without_salt_through_the_reference_and_the_library_call_we_make():
    case = RFC5869_CASE_3
    assert _hkdf_rfc5869(case["ikm"], b"", b"", 42) == case["okm"]
    assert HKDF(algorithm=hashes.SHA256(), length=42, salt=None, info=b"").derive(case["ikm"]) == case["okm"]


@pytest.mark.parametrize("purpose", ["audit-chain", "token-fingerprint", "row-mac"])
def test_derive_key_is_rfc5869_hkdf_sha256_with_no_salt_and_our_info(purpose):
    expected = _hkdf_rfc5869(KEK, b"", f"readiness/{purpose}/v1".encode(), 32)
    assert derive_key(KEK, purpose) == expected
    assert derive_key(bytearray(KEK), purpose) == expected


def test_derive_key_of_the_audit_chain_is_pinned():
    # Every stored audit mac and row mac depends on this subkey: it may never change for an existing vault.
    assert derive_key(KEK, "audit-chain").hex() == AUDIT_CHAIN_SUBKEY_OF_KEK


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


@pytest.mark.parametrize(
    "fields",
    [
        ("acme", "google", "cred-1", "access", 1),
        ("t", "microsoft", "3f2c9a8e-0b1d-4c2e-9f1a-7d6b5e4c3b2a", "refresh", 123456789012),
        ('quo"te\\back', "tab\tnew\nline", "ünïcödé ✓ 🔑", "\x00\x1f\x7f", 0),
        ("", "", "", "", -1),
        ("\u2028\u2029", "</script>", "a" * 500, "f", 2**70),
        ("acme", "google", "cred-1", "access", True),  # a bool is not an int in the AAD (JSON true): the general path
    ],
)
def test_a_fields_associated_data_is_the_canonical_json_of_its_names(fields):
    """The associated data binds a ciphertext to its tenant, provider, credential, field and DEK version: exactly
    the bytes of their JSON object with sorted keys, no spaces, ASCII (what every release has sealed under)."""
    import json

    tenant, provider, credential, field, version = fields
    expected = json.dumps(
        {
            "v": 1,
            "tenant": tenant,
            "provider": provider,
            "credential": credential,
            "field": field,
            "dek_version": version,
        },
        sort_keys=True,
        separators=(",", ":"),
    ).encode()
    assert credential_aad(tenant, provider, credential, field, version) == expected


@pytest.mark.parametrize(
    ("tenant", "provider", "credential", "old", "new"),
    [
        ("acme", "google", "cred-1", 1, 2),
        ('quo"te\\back', "ünïcödé ✓ 🔑", "\u2028</script>", 0, 2**70),
        ("", "", "", -1, 7),
        ("acme", "google", "cred-1", True, 2),  # a bool is not an int in the AAD (JSON true): the general path
        ("acme", "google", "cred-1", 1, True),
    ],
)
def test_a_rotations_four_associated_data_are_each_fields_at_each_version(tenant, provider, credential, old, new):
    """What a DEK rotation opens and seals a credential under: access at the old and new version, then refresh."""
    assert reseal_aads(tenant, provider, credential, old, new) == tuple(
        credential_aad(tenant, provider, credential, field, version)
        for field in ("access", "refresh")
        for version in (old, new)
    )


@pytest.mark.parametrize(
    "fields",
    [
        ("acme", 1, "kek:0123456789abcdef", "dek"),
        ("tenant-099999", 2**40, "kek:ffffffffffffffff", "audit"),
        ('quo"te\\ ünï ✓', 0, "\x00\n", ""),
        ("acme", True, "kek:0123456789abcdef", "dek"),  # a bool is not an int in the AAD (JSON true): the general path
    ],
)
def test_a_wrapped_keys_associated_data_is_the_canonical_json_of_its_names(fields):
    """A wrapped key is bound to its tenant, version, KEK fingerprint and purpose: the bytes of their JSON object
    with sorted keys, no spaces, ASCII, as every release has wrapped under."""
    import json

    tenant, version, kek, purpose = fields
    expected = json.dumps(
        {"v": 1, "purpose": purpose, "tenant": tenant, "dek_version": version, "kek": kek},
        sort_keys=True,
        separators=(",", ":"),
    ).encode()
    assert _key_aad(tenant, version, kek, purpose) == expected
