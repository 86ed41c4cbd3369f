"""Plaintext's only container: :class:`Secret`, and :class:`TokenSet` (what ``Vault.get`` returns).

"No plaintext tokens in memory" cannot be absolute in Python (str objects are immutable and the
interpreter copies freely). What we do: plaintext lives in a ``bytearray`` inside a Secret for the
shortest time, is wiped (zeroed) when the Secret is wiped or leaves a ``with`` block, and never shows in
a repr, str, format, pickle, log or exception. Reading it takes an explicit :meth:`Secret.reveal`.

Revealed plaintext is handed to someone who may send it to a provider that echoes it, so
:meth:`Secret.reveal` registers it with the one scrubbing point (:mod:`vault.redact`), which keeps its
forms for the life of the process: the price of masking a reflected token in every later output.
"""

from __future__ import annotations

import contextlib
import hmac
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import Any, NoReturn

from vault.redact import fingerprint, remember

__all__ = ["Secret", "TokenSet"]


class Secret:
    """A secret value with a masked repr and an explicit reveal.

    >>> s = Secret("ya29.token")
    >>> s
    Secret(***)
    >>> s.reveal()
    'ya29.token'
    """

    __slots__ = ("_buf", "_wiped")

    def __init__(self, value: str | bytes | bytearray) -> None:
        data = value.encode() if isinstance(value, str) else value
        self._buf = bytearray(data)
        self._wiped = False
        if isinstance(value, bytearray):
            _zero(value)  # we took a copy: do not leave the caller's buffer behind

    def reveal(self) -> str:
        """The plaintext as ``str``. Use it at the last moment (an Authorization header), never store it.

        The value is taught to the process-wide scrubbing registry (:func:`vault.redact.remember`) first:
        once plaintext leaves a Secret, every output of this process masks it, in every encoded form."""
        self._check()
        remember(self._buf)
        return self._buf.decode()

    def reveal_bytes(self) -> bytes:
        self._check()
        remember(self._buf)
        return bytes(self._buf)

    def buffer(self) -> bytearray:
        """The live buffer (no copy): for APIs that accept a bytes-like object. Wiped with the Secret."""
        self._check()
        return self._buf

    @property
    def fingerprint(self) -> str:
        """``fp:<16 hex>``: a stable name for display, keyed (see :func:`vault.redact.fingerprint`)."""
        self._check()
        return fingerprint(self._buf)

    def wipe(self) -> None:
        """Zero the buffer. The Secret is unusable afterwards."""
        _zero(self._buf)
        self._wiped = True

    @property
    def wiped(self) -> bool:
        return self._wiped

    def __len__(self) -> int:
        return len(self._buf)

    def matches(self, plaintext: str | bytes | None) -> bool:
        """Whether the Secret holds ``plaintext`` (constant time), without revealing it: nothing is handed
        out, so nothing is registered with the scrubbing point (the vault's self-test compares this way)."""
        self._check()
        if plaintext is None:
            return False
        data = plaintext.encode() if isinstance(plaintext, str) else plaintext
        return hmac.compare_digest(bytes(self._buf), data)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(bytes(self._buf), bytes(other._buf))

    def __hash__(self) -> int:
        raise TypeError("Secret is not hashable")

    def __repr__(self) -> str:
        return "Secret(wiped)" if self._wiped else "Secret(***)"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return repr(self)

    def __reduce__(self) -> NoReturn:
        raise TypeError("Secret cannot be pickled")

    def __enter__(self) -> Secret:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.wipe()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):  # at interpreter shutdown
            _zero(self._buf)

    def _check(self) -> None:
        if self._wiped:
            raise ValueError("this Secret was wiped")


def _zero(buf: bytearray) -> None:
    for i in range(len(buf)):
        buf[i] = 0


@dataclass(repr=False)
class TokenSet:
    """One credential's tokens, as ``Vault.get`` returns them. The tokens are :class:`Secret` s."""

    tenant: str
    provider: str
    account: str
    credential_id: str
    access_token: Secret
    refresh_token: Secret | None = None
    expires_at: datetime | None = None
    scopes: list[str] = field(default_factory=list)
    token_type: str = "Bearer"

    def wipe(self) -> None:
        self.access_token.wipe()
        if self.refresh_token is not None:
            self.refresh_token.wipe()

    def __enter__(self) -> TokenSet:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.wipe()

    def __repr__(self) -> str:
        return (
            f"TokenSet(tenant={self.tenant!r}, provider={self.provider!r}, account={self.account!r}, "
            f"credential_id={self.credential_id!r}, access_token=Secret(***), "
            f"refresh_token={'Secret(***)' if self.refresh_token else None}, expires_at={self.expires_at!r})"
        )
