"""The vault's own settings rows (``vault_meta``: KEKs known, the wrapped audit key, rotation checkpoints) and
the byte helpers the parts of the :class:`~vault.store.Vault` share."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from vault.integrity import RowMac
from vault.models import VaultMeta

__all__ = ["AUDIT_KEY_SCOPE", "audit_key_meta", "b64", "meta_delete", "meta_get", "meta_set", "unb64", "zero"]

AUDIT_KEY_SCOPE = "__audit__"  # the "tenant" the audit key is wrapped for (its associated data)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def unb64(text: str) -> bytes:
    return base64.b64decode(text.encode())


def zero(buf: bytearray) -> None:
    buf[:] = bytes(len(buf))


def audit_key_meta(rows: RowMac, kek: str, wrapped: bytes, seq: int) -> dict[str, Any]:
    """The ``audit_key`` entry of a bound vault: wrapped key, its KEK, the seq of its last write, and their MAC."""
    text = b64(wrapped)
    return {"wrapped": text, "kek": kek, "rows": 1, "seq": seq, "mac": rows.audit_key(kek, text, seq)}


def meta_get(conn: sa.Connection, key: str, *, lock: bool = False) -> Any:
    query = sa.select(VaultMeta.value).where(VaultMeta.key == key)
    if lock:
        query = query.with_for_update()
    return conn.execute(query).scalar_one_or_none()


def meta_set(conn: sa.Connection, key: str, value: Any, now: datetime) -> None:
    done = conn.execute(sa.update(VaultMeta).where(VaultMeta.key == key).values(value=value, updated_at=now))
    if done.rowcount == 0:
        conn.execute(sa.insert(VaultMeta).values(key=key, value=value, updated_at=now))


def meta_delete(conn: sa.Connection, key: str) -> None:
    conn.execute(sa.delete(VaultMeta).where(VaultMeta.key == key))
