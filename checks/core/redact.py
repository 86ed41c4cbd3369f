"""Fingerprints and scrubbing for checks: the sweep's handle on the one scrubbing point.

:class:`Scrubber` is :class:`vault.redact.Redactor` with the secret's keyed fingerprint as the mask, so a
person can tell which secret a provider reflected without learning it. Like every Redactor it also masks
what the process-wide registry knows (tokens the vault revealed to a check, secrets a command loaded).
Kinds cut provider text with :meth:`Scrubber.clip` (scrub, *then* cut), never ``scrubber(text[:n])``.
"""

from __future__ import annotations

from collections.abc import Iterable

from vault.redact import Redactor, fingerprint, remember

__all__ = ["Scrubber", "fingerprint"]


class Scrubber(Redactor):
    """Replaces known secrets (in every form) with their fingerprint and secret-shaped substrings with ``***``."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__((), label=fingerprint)
        for secret in secrets:
            self.add(secret)

    def add(self, secret: str | bytes | bytearray | None) -> None:
        """Register a secret here (masked by its fingerprint) and with the process-wide registry, so the
        redacting log filter and every other output of this process mask it too."""
        super().add(secret)
        remember(secret)

    def __repr__(self) -> str:
        return f"Scrubber({self.forms} secret forms)"
