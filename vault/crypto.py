"""Envelope encryption with AES-256-GCM (cryptography's ``AESGCM``).

* A key-encryption key (KEK, 32 bytes) comes from the key source; versions are named by a fingerprint.
* One data-encryption key (DEK, 32 bytes) per tenant and DEK version, stored wrapped by the KEK.
* Each token field is sealed under its tenant's DEK with a fresh 96-bit random nonce and associated data
  binding tenant, provider, credential id, field and DEK version: a ciphertext copied to another row,
  tenant or field fails to open.

Every failure to open is one opaque :class:`~vault.errors.IntegrityError`: it never says why.
Blob layout: ``version byte (1) || nonce (12) || ciphertext || tag (16)``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from vault.errors import IntegrityError

__all__ = [
    "KEY_BYTES",
    "NONCE_BYTES",
    "cipher",
    "credential_aad",
    "derive_key",
    "hmac_fingerprint",
    "kek_fingerprint",
    "new_key",
    "open_blob",
    "open_with",
    "seal",
    "seal_with",
    "unwrap_key",
    "unwrap_with",
    "wrap_key",
    "wrap_with",
]

KEY_BYTES = 32
NONCE_BYTES = 12
_FORMAT = b"\x01"
_AAD = json.JSONEncoder(sort_keys=True, separators=(",", ":"))
"""Associated data's encoder, built once (what ``json.dumps(..., sort_keys=True, separators=(",", ":"))`` builds
per call): the same bytes."""
_str = json.encoder.encode_basestring_ascii
"""A JSON string as _AAD writes one (ASCII, escaped)."""


def new_key() -> bytearray:
    """32 random bytes from the OS CSPRNG."""
    return bytearray(os.urandom(KEY_BYTES))


def kek_fingerprint(kek: bytes | bytearray) -> str:
    """``kek:<16 hex>``: names a KEK version without revealing anything usable about it."""
    _need_key(kek)
    return "kek:" + hashlib.sha256(b"readiness/kek-fingerprint/v1\x00" + bytes(kek)).hexdigest()[:16]


def derive_key(key: bytes | bytearray, purpose: str) -> bytes:
    """HKDF-SHA256 subkey of ``key`` for ``purpose`` (e.g. ``audit-chain``)."""
    return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=f"readiness/{purpose}/v1".encode()).derive(
        bytes(key)
    )


def hmac_fingerprint(key: bytes, value: bytes | bytearray) -> str:
    """``hmac:<16 hex>`` of a secret under ``key``: lets the audit log name a token without revealing it."""
    return "hmac:" + hmac.new(key, bytes(value), hashlib.sha256).hexdigest()[:16]


def credential_aad(tenant: str, provider: str, credential_id: str, field: str, dek_version: int) -> bytes:
    """Associated data for a token field: any change to these makes the ciphertext fail to open."""
    if (
        type(dek_version) is int
        and type(tenant) is str
        and type(provider) is str
        and type(credential_id) is str
        and type(field) is str
    ):
        # The bytes _AAD writes (keys sorted, no spaces, ASCII), without building and sorting a dict: four of
        # these per credential re-sealed by a DEK rotation. tests/vault/test_crypto.py holds them equal.
        return (
            f'{{"credential":{_str(credential_id)},"dek_version":{dek_version},"field":{_str(field)},'
            f'"provider":{_str(provider)},"tenant":{_str(tenant)},"v":1}}'
        ).encode()
    return _AAD.encode(
        {
            "v": 1,
            "tenant": tenant,
            "provider": provider,
            "credential": credential_id,
            "field": field,
            "dek_version": dek_version,
        },
    ).encode()


def reseal_aads(
    tenant: str, provider: str, credential_id: str, old_version: int, new_version: int
) -> tuple[bytes, bytes, bytes, bytes]:
    """A credential's four :func:`credential_aad` of a DEK rotation: access at ``old_version`` and at
    ``new_version``, then refresh at each; the same bytes, with the parts the four share written once."""
    if (
        type(old_version) is int
        and type(new_version) is int
        and type(tenant) is str
        and type(provider) is str
        and type(credential_id) is str
    ):
        head = f'{{"credential":{_str(credential_id)},"dek_version":'
        tail = f',"provider":{_str(provider)},"tenant":{_str(tenant)},"v":1}}'
        return (
            f'{head}{old_version},"field":"access"{tail}'.encode(),
            f'{head}{new_version},"field":"access"{tail}'.encode(),
            f'{head}{old_version},"field":"refresh"{tail}'.encode(),
            f'{head}{new_version},"field":"refresh"{tail}'.encode(),
        )
    return (
        credential_aad(tenant, provider, credential_id, "access", old_version),
        credential_aad(tenant, provider, credential_id, "access", new_version),
        credential_aad(tenant, provider, credential_id, "refresh", old_version),
        credential_aad(tenant, provider, credential_id, "refresh", new_version),
    )


def _key_aad(tenant: str, dek_version: int, kek_fp: str, purpose: str) -> bytes:
    if type(dek_version) is int and type(tenant) is str and type(kek_fp) is str and type(purpose) is str:
        # As credential_aad: _AAD's bytes written directly (twice per data key a KEK rotation rewraps).
        return (
            f'{{"dek_version":{dek_version},"kek":{_str(kek_fp)},"purpose":{_str(purpose)},'
            f'"tenant":{_str(tenant)},"v":1}}'
        ).encode()
    return _AAD.encode(
        {"v": 1, "purpose": purpose, "tenant": tenant, "dek_version": dek_version, "kek": kek_fp},
    ).encode()


def seal(key: bytes | bytearray, plaintext: bytes | bytearray, aad: bytes) -> bytes:
    """Encrypt and authenticate under ``key`` with a fresh random nonce."""
    return seal_with(cipher(key), plaintext, aad)


def open_blob(key: bytes | bytearray, blob: bytes, aad: bytes) -> bytearray:
    """Decrypt a :func:`seal` blob. Raises :class:`IntegrityError` (and nothing else) on any mismatch."""
    return open_with(cipher(key), blob, aad)


def cipher(key: bytes | bytearray) -> AESGCM:
    """An AES-256-GCM instance for ``key``, for sealing or opening many fields under one key (a batch)."""
    _need_key(key)
    return AESGCM(bytes(key))


def seal_with(aes: AESGCM, plaintext: bytes | bytearray, aad: bytes) -> bytes:
    """:func:`seal` with a :func:`cipher` already built."""
    nonce = os.urandom(NONCE_BYTES)
    return _FORMAT + nonce + aes.encrypt(nonce, bytes(plaintext), aad)


def open_with(aes: AESGCM, blob: bytes, aad: bytes) -> bytearray:
    """:func:`open_blob` with a :func:`cipher` already built."""
    if len(blob) < 1 + NONCE_BYTES + 16 or blob[:1] != _FORMAT:
        raise IntegrityError("ciphertext failed authentication")
    try:
        return bytearray(aes.decrypt(blob[1 : 1 + NONCE_BYTES], blob[1 + NONCE_BYTES :], aad))
    except InvalidTag:
        raise IntegrityError("ciphertext failed authentication") from None


def wrap_key(
    kek: bytes | bytearray, dek: bytes | bytearray, tenant: str, dek_version: int, kek_fp: str, purpose: str = "dek"
) -> bytes:
    """Wrap a DEK (or the audit key) under the KEK, bound to its tenant, version and KEK fingerprint."""
    return wrap_with(cipher(kek), dek, tenant, dek_version, kek_fp, purpose)


def wrap_with(
    kek: AESGCM, dek: bytes | bytearray, tenant: str, dek_version: int, kek_fp: str, purpose: str = "dek"
) -> bytes:
    """:func:`wrap_key` with the KEK's :func:`cipher` already built (a KEK rotation wraps every DEK under one)."""
    _need_key(dek)
    return seal_with(kek, dek, _key_aad(tenant, dek_version, kek_fp, purpose))


def unwrap_key(
    kek: bytes | bytearray, wrapped: bytes, tenant: str, dek_version: int, kek_fp: str, purpose: str = "dek"
) -> bytearray:
    return unwrap_with(cipher(kek), wrapped, tenant, dek_version, kek_fp, purpose)


def unwrap_with(
    kek: AESGCM, wrapped: bytes, tenant: str, dek_version: int, kek_fp: str, purpose: str = "dek"
) -> bytearray:
    """:func:`unwrap_key` with the KEK's :func:`cipher` already built."""
    key = open_with(kek, wrapped, _key_aad(tenant, dek_version, kek_fp, purpose))
    if len(key) != KEY_BYTES:
        raise IntegrityError("ciphertext failed authentication")
    return key


def _need_key(key: bytes | bytearray) -> None:
    if len(key) != KEY_BYTES:
        raise ValueError(f"AES-256 keys are {KEY_BYTES} bytes; got {len(key)}")
