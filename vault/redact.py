"""A logging filter that keeps secrets out of logs.

:class:`RedactingFilter` rewrites each record it sees, before any handler formats it:

* known secrets, registered with :meth:`RedactingFilter.add`, become ``***`` in every form
  :func:`secret_forms` derives: as text, base64 (both alphabets, padded or not), hex, bytes-``repr``,
  url-encoded (``quote`` with and without ``/`` kept, ``quote_plus``) and JSON-escaped (also with ``\\/``);
* token shapes become ``***`` whatever was registered: ``Bearer <token>``, ``Authorization: Basic <..>``,
  Google access (``ya29.``) and refresh (``1//``) tokens, JWTs (``eyJ..``), ``client_secret=``,
  ``refresh_token=``, ``access_token=``, ``code=`` and friends in query strings and form bodies, the
  same names as JSON or Python-dict keys, and the password of ``scheme://user:password@host`` URLs;
* the message (``msg % args``), a formatted exception (``exc_info`` becomes a scrubbed ``exc_text``),
  ``stack_info`` and string values of ``extra`` fields are all scrubbed.

Filters on a logger see only records logged to that very logger; filters on a handler see everything
the handler emits. :func:`install` therefore attaches one filter to every handler of the root logger
and to the given logger. This module is self-contained: ``vault`` does not import ``checks``.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import re
import threading
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, quote_plus

__all__ = ["MASK", "RedactingFilter", "install", "scrub_text", "secret_forms"]

MASK = "***"
_MIN_SECRET = 4  # shorter "secrets" would shred ordinary words

_NAMES = (
    r"client_secret|client_assertion|access_token|refresh_token|id_token|auth_token|api_key|apikey|"
    r"password|passwd|secret|token|code|assertion|private_key"
)
# (pattern, replacement): the replacement keeps the name and masks the value.
_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    # Authorization: Bearer|Basic|Token <credential> (header lines, dict reprs, curl -H)
    (re.compile(r"(?i)(authorization[\"']?\s*[:=]\s*[\"']?(?:bearer|basic|token)\s+)[^\s\"',;]+"), r"\1" + MASK),
    (re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=-]{6,}"), r"\1" + MASK),
    # JWTs (also JWS/JWE with more segments): header.payload[.signature]
    (re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]*)*"), MASK),
    # Google OAuth access and refresh tokens
    (re.compile(r"\bya29\.[A-Za-z0-9._-]+"), MASK),
    (re.compile(r"(?<![A-Za-z0-9])1//[A-Za-z0-9._-]{10,}"), MASK),
    # name=value in query strings and form bodies (not status_code=, not barcode=)
    (re.compile(rf"(?i)(?<![A-Za-z0-9_])((?:{_NAMES})=)[^&\s\"'<>]+"), r"\1" + MASK),
    # "name": "value" (JSON) and 'name': 'value' (Python reprs)
    (re.compile(rf"(?i)(\"(?:{_NAMES})\"\s*:\s*\")(?:[^\"\\]|\\.)*(\")"), r"\1" + MASK + r"\2"),
    (re.compile(rf"(?i)('(?:{_NAMES})'\s*:\s*')(?:[^'\\]|\\.)*(')"), r"\1" + MASK + r"\2"),
    # user:password@ in URLs (Twilio's https://AC...:authtoken@api.twilio.com)
    (re.compile(r"(?i)(\b[a-z][a-z0-9+.-]*://[^/\s:@]+:)[^@/\s]+(@)"), r"\1" + MASK + r"\2"),
]

_RECORD_ATTRS = frozenset(vars(logging.LogRecord("x", logging.INFO, "x", 0, "x", None, None))) | {"message", "asctime"}


def secret_forms(secret: str | bytes | bytearray) -> set[str]:
    """The ways ``secret`` shows up in text someone else wrote: itself, its base64 (both alphabets, padded
    or not), hex and bytes-``repr``; url-encoded (``quote`` keeping ``/``, ``quote`` keeping nothing,
    ``quote_plus``: a form body echoed back); JSON-escaped (with and without ``\\/``: an echoed JSON
    document). Empty for a secret shorter than four bytes (masking it would shred ordinary words)."""
    raw = secret.encode() if isinstance(secret, str) else bytes(secret)
    if len(raw) < _MIN_SECRET:
        return set()
    texts = {secret} if isinstance(secret, str) else set()
    with contextlib.suppress(UnicodeDecodeError):
        texts.add(raw.decode())
    b64 = base64.b64encode(raw).decode()
    forms = set(texts) | {b64, b64.rstrip("="), b64.translate(str.maketrans("+/", "-_")).rstrip("="), raw.hex(),
                          repr(raw)[2:-1]}
    for text in texts:
        escaped = json.dumps(text)[1:-1]
        forms |= {quote(text), quote(text, safe=""), quote_plus(text), escaped, escaped.replace("/", "\\/")}
    return {f for f in forms if len(f) >= _MIN_SECRET}


def scrub_text(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with the given secrets (as given: pass :func:`secret_forms` for their derived forms too)
    and every known token shape replaced by ``***``."""
    for secret in sorted(secrets, key=len, reverse=True):
        if secret and secret in text:
            text = text.replace(secret, MASK)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactingFilter(logging.Filter):
    """Rewrites records so that no registered secret and no token-shaped string reaches a handler."""

    def __init__(self, secrets: Iterable[str | bytes | bytearray] = (), name: str = "") -> None:
        super().__init__(name)
        self._lock = threading.Lock()
        self._secrets: set[str] = set()
        self._known: re.Pattern[str] | None = None
        for secret in secrets:
            self.add(secret)

    def add(self, secret: str | bytes | bytearray) -> None:
        """Register a secret in every form :func:`secret_forms` knows."""
        forms = secret_forms(secret)
        if not forms:
            return
        with self._lock:
            self._secrets |= forms
            ordered = sorted(self._secrets, key=len, reverse=True)  # a secret containing another goes first
            self._known = re.compile("|".join(re.escape(s) for s in ordered))

    @property
    def forms(self) -> int:
        """How many secret forms are registered (never the forms themselves)."""
        return len(self._secrets)

    def scrub(self, text: str) -> str:
        """``text`` with registered secrets and token shapes masked."""
        known = self._known
        if known is not None:
            text = known.sub(MASK, text)
        for pattern, replacement in _PATTERNS:
            text = pattern.sub(replacement, text)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: keep what we can show, scrubbed
            message = f"{record.msg} {record.args!r}"
        record.msg = self.scrub(message)
        record.args = None
        if hasattr(record, "message"):
            record.message = record.msg
        if record.exc_info:
            if not record.exc_text:
                record.exc_text = logging.Formatter().formatException(record.exc_info)
            record.exc_info = None  # formatters print exc_text; none can re-render the raw traceback
        if record.exc_text:
            record.exc_text = self.scrub(record.exc_text)
        if record.stack_info:
            record.stack_info = self.scrub(record.stack_info)
        for key, value in list(vars(record).items()):
            if key not in _RECORD_ATTRS:
                setattr(record, key, self._scrub_value(value))
        return True

    def _scrub_value(self, value: Any, depth: int = 0) -> Any:
        """Strings inside ``extra`` fields (google's structured logging puts requests there)."""
        if depth > 5:
            return value
        if isinstance(value, str):
            return self.scrub(value)
        if isinstance(value, dict):
            return {k: self._scrub_value(v, depth + 1) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return type(value)(self._scrub_value(v, depth + 1) for v in value)
        return value

    def __repr__(self) -> str:
        return f"RedactingFilter({len(self._secrets)} secret forms)"


def install(logger: logging.Logger | None = None, redacting: RedactingFilter | None = None) -> RedactingFilter:
    """Attach a redacting filter to every handler of the root logger and to ``logger`` (default: root).

    Idempotent: a filter already installed on ``logger`` is reused (pass ``redacting`` to choose one).
    Handlers added to the root logger later need ``handler.addFilter(filter)`` or another ``install()``.
    """
    target = logger if logger is not None else logging.getLogger()
    if redacting is None:
        found = [f for f in target.filters if isinstance(f, RedactingFilter)]
        redacting = found[0] if found else RedactingFilter()
    root = logging.getLogger()
    for handler in {*root.handlers, *target.handlers}:
        if redacting not in handler.filters:
            handler.addFilter(redacting)
    if redacting not in target.filters:
        target.addFilter(redacting)
    return redacting
