"""Row integrity: what selects or describes a token is bound to a MAC, and to the audit chain's length.

The AEAD's associated data already binds each ciphertext to its tenant, provider, credential id, field and
DEK version (:func:`vault.crypto.credential_aad`), but not the columns a lookup *selects by* or that
*describe* the token: ``account`` (swap two rows' accounts and a lookup for one returns the other's token),
``scopes``, ``expires_at``, ``state``, ``token_fingerprint``. Those change on legitimate writes (refresh,
revoke), so they are bound by a **row MAC**, recomputed on every write of a bound column:

* key: ``HKDF(audit_key, "row-mac")``; the audit key is wrapped under the KEK, so only a KEK holder can
  compute it, and it survives KEK and DEK rotation;
* credentials: id, tenant, provider, account, scopes, expires_at, state, dek_version, token_fingerprint,
  SHA-256 of each ciphertext, and ``audit_seq``;
* data keys: tenant, version, KEK fingerprint, state, SHA-256 of the wrapped bytes, and ``audit_seq``;
* the audit key's ``vault_meta`` entry: KEK fingerprint, wrapped bytes, and ``seq``.

``audit_seq`` is the audit seq of the row's last write. The audit chain must be at least as long as the
largest one (:func:`check_store`): deleting the whole log, head anchor included, no longer reads as
"intact, 0 entries".

A vault is *bound* once its audit key is wrapped with purpose ``audit+rows`` (new vaults from ``init``;
older ones on the first open after upgrading, audited as ``bind_rows``). In a bound vault a row without a
MAC is an :class:`~vault.errors.IntegrityError`; stripping the marker from ``vault_meta`` does not help an
attacker, because the key then fails to unwrap under the legacy purpose.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from vault.audit import canonical_json
from vault.crypto import derive_key
from vault.errors import IntegrityError
from vault.models import Credential, DataKey, utc

__all__ = [
    "AUDIT_KEY_PURPOSE",
    "CREDENTIAL_COLUMNS",
    "DATA_KEY_COLUMNS",
    "LEGACY_AUDIT_KEY_PURPOSE",
    "RowMac",
    "bind_unbound_rows",
    "check_store",
]

AUDIT_KEY_PURPOSE = "audit+rows"
"""Wrap purpose of the audit key in a bound vault."""
LEGACY_AUDIT_KEY_PURPOSE = "audit"
"""Wrap purpose before row MACs: such a vault is bound (once) on its next open."""

_C: sa.Table = Credential.metadata.tables["credentials"]
_D: sa.Table = DataKey.metadata.tables["data_keys"]
CREDENTIAL_COLUMNS = (
    _C.c.id,
    _C.c.tenant,
    _C.c.provider,
    _C.c.account,
    _C.c.scopes,
    _C.c.expires_at,
    _C.c.state,
    _C.c.dek_version,
    _C.c.token_fingerprint,
    _C.c.access_ct,
    _C.c.refresh_ct,
    _C.c.audit_seq,
    _C.c.row_mac,
)
"""Every column a credential's row MAC covers (and the MAC): select these to check a row."""
DATA_KEY_COLUMNS = (
    _D.c.tenant,
    _D.c.version,
    _D.c.kek_fingerprint,
    _D.c.state,
    _D.c.wrapped,
    _D.c.audit_seq,
    _D.c.row_mac,
)


def _getter(row: Any) -> Callable[[str], Any]:
    """A column of ``row`` by name, for a mapping or a result row alike (the row's kind is looked up once, not
    once a column)."""
    if isinstance(row, Mapping):
        return row.__getitem__
    return functools.partial(getattr, row)


_str = json.encoder.encode_basestring_ascii
"""A JSON string as canonical_json writes one (ASCII, escaped)."""


def _js(value: str | None) -> str:
    """A str or None as canonical_json writes it; TypeError for anything else."""
    return "null" if value is None else _str(value)


def _int(value: int | None) -> str:
    return "null" if value is None else str(value)


def _digest(blob: bytes | None) -> str | None:
    return None if blob is None else hashlib.sha256(bytes(blob)).hexdigest()


def _when(value: datetime | None) -> str | None:
    return None if value is None else utc(value).isoformat(timespec="microseconds")


class _CredentialFields:
    """A credential's bound columns that a DEK rotation leaves as they are, and (``text``) their part of the MAC's
    body as canonical_json writes it (keys sorted, no spaces, ASCII), written once for both MACs of a re-sealed
    row: the account, the text between ``dek_version`` and ``refresh``, and the text after it. ``text`` is None
    when a value is of another type than str (or None), and the MAC takes the general path.
    tests/vault/test_integrity.py holds the two equal."""

    __slots__ = ("account", "cid", "expires_at", "provider", "scopes", "state", "tenant", "text", "token_fingerprint")

    def __init__(
        self,
        cid: Any,
        tenant: Any,
        provider: Any,
        account: Any,
        scopes: list[Any],
        expires_at: str | None,
        state: Any,
        token_fingerprint: Any,
    ) -> None:
        self.cid, self.tenant, self.provider, self.account = cid, tenant, provider, account
        self.scopes, self.expires_at, self.state, self.token_fingerprint = scopes, expires_at, state, token_fingerprint
        try:
            self.text: tuple[str, str, str] | None = (
                _str(account),
                f',"expires_at":{_js(expires_at)},"id":{_str(cid)},"provider":{_str(provider)},"refresh":',
                f',"row":"credential","scopes":[{",".join(map(_str, scopes))}],"state":{_js(state)},'
                f'"tenant":{_str(tenant)},"token_fingerprint":{_js(token_fingerprint)}}}',
            )
        except TypeError:
            self.text = None


class RowMac:
    """Computes and checks row MACs. ``required``: the vault is bound, so a missing MAC is tampering."""

    def __init__(self, audit_key: bytes | bytearray, *, required: bool) -> None:
        self._key = derive_key(audit_key, "row-mac")
        self.required = required

    def _mac(self, body: dict[str, Any]) -> str:
        return hmac.digest(self._key, canonical_json(body), "sha256").hex()  # hmac.new(...).hexdigest(), in one C call

    # ------------------------------------------------------------------------------------- compute

    def credential(self, row: Any) -> str:
        """The MAC of a credential row given as a mapping or a result row with :data:`CREDENTIAL_COLUMNS`."""
        get = _getter(row)
        shared = _CredentialFields(
            get("id"),
            get("tenant"),
            get("provider"),
            get("account"),
            list(get("scopes") or []),
            _when(get("expires_at")),
            get("state"),
            get("token_fingerprint"),
        )
        return self._credential(
            shared, int(get("dek_version")), _digest(get("access_ct")), _digest(get("refresh_ct")), get("audit_seq")
        )

    def _credential(
        self, shared: _CredentialFields, dek_version: int, access: str | None, refresh: str | None, audit_seq: Any
    ) -> str:
        """A credential's MAC from the columns no rotation changes (``shared``), its DEK version, the digests of
        its ciphertexts and its audit seq."""
        text = shared.text
        if text is not None and type(dek_version) is int and (audit_seq is None or type(audit_seq) is int):
            account, middle, tail = text
            try:
                body = (
                    f'{{"access":{_js(access)},"account":{account},"audit_seq":{_int(audit_seq)},'
                    f'"dek_version":{dek_version}{middle}{_js(refresh)}{tail}'
                ).encode()
            except TypeError:
                pass
            else:
                return hmac.digest(self._key, body, "sha256").hex()
        return self._mac(
            {
                "row": "credential",
                "id": shared.cid,
                "tenant": shared.tenant,
                "provider": shared.provider,
                "account": shared.account,
                "scopes": shared.scopes,
                "expires_at": shared.expires_at,
                "state": shared.state,
                "dek_version": dek_version,
                "token_fingerprint": shared.token_fingerprint,
                "access": access,
                "refresh": refresh,
                "audit_seq": audit_seq,
            }
        )

    def data_key(self, row: Any) -> str:
        get = _getter(row)
        return self._data_key(
            get("tenant"),
            int(get("version")),
            get("kek_fingerprint"),
            get("state"),
            _digest(get("wrapped")),
            get("audit_seq"),
        )

    def _data_key(self, tenant: Any, version: int, kek: Any, state: Any, wrapped: str | None, audit_seq: Any) -> str:
        """A data key's MAC from its bound values, the wrapped bytes as a digest."""
        if type(version) is int and (audit_seq is None or type(audit_seq) is int):
            try:  # as _credential: canonical_json's bytes written directly (two per data key a KEK rotation rewraps)
                body = (
                    f'{{"audit_seq":{_int(audit_seq)},"kek":{_js(kek)},"row":"data_key","state":{_js(state)},'
                    f'"tenant":{_str(tenant)},"version":{version},"wrapped":{_js(wrapped)}}}'
                ).encode()
            except TypeError:
                pass
            else:
                return hmac.digest(self._key, body, "sha256").hex()
        return self._mac(
            {
                "row": "data_key",
                "tenant": tenant,
                "version": version,
                "kek": kek,
                "state": state,
                "wrapped": wrapped,
                "audit_seq": audit_seq,
            }
        )

    def checked_credential(self, row: Sequence[Any]) -> _CredentialFields:
        """Check a credential row's MAC, as :meth:`check_credential`, and return what :meth:`rebound_credential`
        needs to MAC it re-sealed (the columns both MACs share, read and serialised once). ``row`` holds
        :data:`CREDENTIAL_COLUMNS` in order, first: a result row read by position, whose named columns cost more
        than the MACs (a DEK rotation checks and re-MACs every credential of a tenant)."""
        cid, tenant, provider, account, scopes, expires_at, state, version, fp, access, refresh, seq, mac = row[:13]
        shared = _CredentialFields(cid, tenant, provider, account, list(scopes or []), _when(expires_at), state, fp)
        if mac is None:
            if self.required:
                raise IntegrityError("ciphertext failed authentication")
        else:
            expected = self._credential(shared, int(version), _digest(access), _digest(refresh), seq)
            if not hmac.compare_digest(expected, str(mac)):
                raise IntegrityError("ciphertext failed authentication")
        return shared

    def rebound_credential(
        self,
        shared: _CredentialFields,
        access_ct: bytes | None,
        refresh_ct: bytes | None,
        dek_version: int,
        audit_seq: int,
    ) -> str:
        """The MAC of a row :meth:`checked_credential` checked, with new ciphertexts, DEK version and seq."""
        return self._credential(shared, dek_version, _digest(access_ct), _digest(refresh_ct), audit_seq)

    def checked_data_key(self, row: Sequence[Any]) -> tuple[Any, ...]:
        """Check a data key row's MAC, as :meth:`check_data_key`, and return what :meth:`rebound_data_key` needs
        to MAC it rewrapped. ``row`` holds :data:`DATA_KEY_COLUMNS` in order, first (read by position)."""
        tenant, version, kek, state, wrapped, seq, mac = row[:7]
        shared = (tenant, int(version), state)
        if mac is None:
            if self.required:
                raise IntegrityError("ciphertext failed authentication")
        elif not hmac.compare_digest(self._data_key(tenant, shared[1], kek, state, _digest(wrapped), seq), str(mac)):
            raise IntegrityError("ciphertext failed authentication")
        return shared

    def rebound_data_key(self, shared: tuple[Any, ...], wrapped: bytes, kek: str, audit_seq: int) -> str:
        """The MAC of a data key :meth:`checked_data_key` checked, rewrapped under ``kek`` at ``audit_seq``."""
        tenant, version, state = shared
        return self._data_key(tenant, version, kek, state, _digest(wrapped), audit_seq)

    def audit_key(self, kek: str, wrapped: str, seq: int) -> str:
        return self._mac({"row": "audit_key", "kek": kek, "wrapped": wrapped, "seq": seq})

    def bind(self, kind: str, values: dict[str, Any], audit_seq: int) -> dict[str, Any]:
        """``values`` (every column the MAC covers) plus ``audit_seq`` and the matching ``row_mac``."""
        values = {**values, "audit_seq": audit_seq}
        values["row_mac"] = self.credential(values) if kind == "credential" else self.data_key(values)
        return values

    # --------------------------------------------------------------------------------------- check

    def check_credential(self, row: Any) -> None:
        """Raise :class:`IntegrityError` unless the row's MAC matches its bound columns.

        The error is the same opaque one a ciphertext gives (the row is one sealed record); the audit entry
        names the credential, and ``verify_audit`` names the row and says "row MAC mismatch".
        """
        self._check(row, self.credential)

    def check_data_key(self, row: Any) -> None:
        self._check(row, self.data_key)

    def check_audit_key(self, meta: Mapping[str, Any]) -> None:
        try:
            expected = self.audit_key(str(meta["kek"]), str(meta["wrapped"]), int(meta["seq"]))
            ok = hmac.compare_digest(expected, str(meta["mac"]))
        except (KeyError, TypeError, ValueError):
            ok = False
        if not ok:
            raise IntegrityError("ciphertext failed authentication")

    def _check(self, row: Any, compute: Any) -> None:
        mac = _getter(row)("row_mac")
        if mac is None:
            if self.required:
                raise IntegrityError("ciphertext failed authentication")
            return
        if not hmac.compare_digest(compute(row), str(mac)):
            raise IntegrityError("ciphertext failed authentication")


def bind_unbound_rows(conn: sa.Connection, rows: RowMac, audit_seq: int) -> dict[str, int]:
    """MAC every row that has no MAC yet, as it stands, recording ``audit_seq``; how many of each kind.

    For binding a vault written before row MACs (``Vault.open`` does it once, audited as ``bind_rows``).
    """
    counts = {"credentials": 0, "data_keys": 0}
    for row in conn.execute(sa.select(*CREDENTIAL_COLUMNS).where(_C.c.row_mac.is_(None))).all():
        mac = rows.bind("credential", row._asdict(), audit_seq)["row_mac"]
        conn.execute(_C.update().where(_C.c.id == row.id).values(audit_seq=audit_seq, row_mac=mac))
        counts["credentials"] += 1
    for key in conn.execute(sa.select(_D.c.id, *DATA_KEY_COLUMNS).where(_D.c.row_mac.is_(None))).all():
        mac = rows.bind("data_key", key._asdict(), audit_seq)["row_mac"]
        conn.execute(_D.update().where(_D.c.id == key.id).values(audit_seq=audit_seq, row_mac=mac))
        counts["data_keys"] += 1
    return counts


def check_store(conn: sa.Connection, rows: RowMac, audit_key_seq: int, last_seq: int) -> tuple[int | None, str] | None:
    """Check every credential's and data key's MAC, and that no row (nor the audit key) records an audit
    seq past the chain's last entry ``last_seq``. ``(first bad seq or None, why)``, or ``None`` when sound."""
    top, top_what = audit_key_seq, "the audit key"
    for row in conn.execute(sa.select(*CREDENTIAL_COLUMNS).order_by(_C.c.id)):
        try:
            rows.check_credential(row)
        except IntegrityError:
            return None, f"credential {row.id}: row MAC mismatch (its metadata was edited in the database)"
        if row.audit_seq is not None and row.audit_seq > top:
            top, top_what = row.audit_seq, f"credential {row.id}"
    for key in conn.execute(sa.select(*DATA_KEY_COLUMNS).order_by(_D.c.tenant, _D.c.version)):
        try:
            rows.check_data_key(key)
        except IntegrityError:
            return None, f"data key {key.tenant}@v{key.version}: row MAC mismatch (edited in the database)"
        if key.audit_seq is not None and key.audit_seq > top:
            top, top_what = key.audit_seq, f"data key {key.tenant}@v{key.version}"
    if top > last_seq:
        return last_seq + 1, (
            f"truncated: {top_what} was last written at audit seq {top} but the log ends at seq "
            f"{last_seq} (entries deleted)"
        )
    return None
