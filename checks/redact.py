"""Fingerprints and scrubbing: how a secret is shown (never), and how messages are cleaned."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

__all__ = ["Scrubber", "fingerprint"]


def fingerprint(value: str | bytes) -> str:
    """A short, stable, non-reversible name for a secret: ``sha256:ab12cd34…``."""
    data = value.encode() if isinstance(value, str) else value
    return f"sha256:{hashlib.sha256(data).hexdigest()[:8]}…"


# Shapes that are secrets whatever the manifest says: bearer headers, basic auth in URLs,
# OAuth tokens and client secrets in query strings or form bodies.
_PATTERNS = [
    re.compile(r"(?i)(authorization:\s*)(bearer|basic)\s+[^\s,;]+"),
    re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/=-]{8,}"),
    re.compile(
        r"(?i)((?:client_secret|access_token|refresh_token|id_token|api_key|apikey|token|password|code)=)[^&\s]+"
    ),
    re.compile(r"(?i)(\"(?:client_secret|access_token|refresh_token|id_token|api_key|password)\"\s*:\s*\")[^\"]*"),
    re.compile(r"(://[^/\s:@]+:)[^@/\s]+(@)"),
    re.compile(r"\bya29\.[A-Za-z0-9_-]{10,}"),
]


class Scrubber:
    """Replaces known secret values and secret-shaped substrings with fingerprints or ``***``."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        # Longest first so a secret that contains another is replaced whole.
        self._secrets = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)

    def add(self, secret: str) -> None:
        if secret and len(secret) >= 4 and secret not in self._secrets:
            self._secrets.append(secret)
            self._secrets.sort(key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, fingerprint(secret))
        for pattern in _PATTERNS:
            text = pattern.sub(_mask, text)
        return text

    def __repr__(self) -> str:
        return f"Scrubber({len(self._secrets)} secrets)"


def _mask(match: re.Match[str]) -> str:
    groups = [g for g in match.groups() if g is not None]
    if len(groups) >= 2 and match.re.pattern.startswith("(://"):
        return f"{groups[0]}***{groups[1]}"
    if groups:
        return f"{groups[0]}***" if groups[0].lower() not in ("bearer",) else "Bearer ***"
    return "***"
