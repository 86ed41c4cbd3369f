"""Key sources: where the key-encryption keys (KEKs) come from.

``TOKEN_VAULT_KEY_SOURCE`` picks one:

* ``env`` (default): ``TOKEN_VAULT_ENCRYPTION_KEY`` (base64 of 32 bytes) is the primary KEK; older
  KEKs, for decryption only, in ``TOKEN_VAULT_PREVIOUS_KEYS`` (comma-separated base64);
* ``file:PATH``: one base64 key per line, the first primary; refuses a file others can read;
* ``gcp:projects/P/secrets/S``: Google Secret Manager; each enabled secret version is a KEK version,
  the latest enabled one primary, older enabled ones decrypt-only; the payload's CRC32C is verified.

A source that is missing, unreachable or malformed raises :class:`~vault.errors.KeyUnavailable`, never
falls back to anything.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from vault.crypto import kek_fingerprint

__all__ = ["Kek", "KeyRing", "KeySource", "StaticKeySource"]


@dataclass(frozen=True, repr=False)
class Kek:
    """One KEK version. ``key`` never appears in a repr."""

    key: bytes
    fingerprint: str = ""
    label: str = ""
    """Where it came from, for people: ``env:TOKEN_VAULT_ENCRYPTION_KEY``, ``gcp:.../versions/3``."""

    def __post_init__(self) -> None:
        if not self.fingerprint:
            object.__setattr__(self, "fingerprint", kek_fingerprint(self.key))

    def __repr__(self) -> str:
        return f"Kek({self.fingerprint}, {self.label!r})"


@dataclass(frozen=True)
class KeyRing:
    """The primary KEK (encrypts) and every KEK the source still offers (decrypt)."""

    primary: Kek
    others: tuple[Kek, ...] = field(default_factory=tuple)

    def by_fingerprint(self, fingerprint: str) -> Kek | None:
        for kek in (self.primary, *self.others):
            if kek.fingerprint == fingerprint:
                return kek
        return None

    @property
    def fingerprints(self) -> list[str]:
        return [self.primary.fingerprint, *(k.fingerprint for k in self.others)]


class KeySource(Protocol):
    """Loads the key ring. Called rarely: unwrapped DEKs are cached by the vault with a TTL."""

    name: str
    """For people and the audit log: ``env``, ``file:/path``, ``gcp:projects/p/secrets/s``."""

    def load(self) -> KeyRing:
        """The current key ring. Raises KeyUnavailable with a message that says how to fix it."""
        ...


class StaticKeySource:
    """KEKs held in memory (tests, the demo, ``selftest``'s scratch vault). The first is primary."""

    def __init__(self, *keys: bytes, name: str = "static") -> None:
        if not keys:
            from vault.errors import KeyUnavailable

            raise KeyUnavailable("StaticKeySource needs at least one 32-byte key")
        self.name = name
        self._ring = KeyRing(
            primary=Kek(bytes(keys[0]), label=f"{name}[0]"),
            others=tuple(Kek(bytes(k), label=f"{name}[{n}]") for n, k in enumerate(keys[1:], 1)),
        )

    def load(self) -> KeyRing:
        return self._ring

    def __repr__(self) -> str:
        return f"StaticKeySource({', '.join(self._ring.fingerprints)})"
