"""The one scrubbing point: every string from outside passes a :class:`Redactor` before it is cut, stored,
printed, logged or shown.

A Redactor knows secrets and masks them in every form a provider could reflect them in:

* the raw text, its HTML and JSON escapes, its URL encodings (``quote``, ``quote_plus``, doubled), hex;
* base64 (standard and URL-safe, padded or not) of the secret *at each of the three byte alignments*, so the
  base64 of any larger blob that contains it is caught too: ``Basic base64(SID:AUTH_TOKEN)``, a reflected
  form body, a JWT payload carrying it;
* a fragment of any of these (12 characters or more) that a provider cut itself, at either end.

Then token *shapes* are masked whatever was registered: ``Bearer <token>``, ``Basic <..>``, JWTs, Google
access (``ya29.``) and refresh (``1//``) tokens, Google client secrets (``GOCSPX-``), ``client_secret=``,
``refresh_token=`` and friends in query strings, form bodies (plain or URL-encoded), JSON and dict reprs,
and the password of ``scheme://user:password@host`` URLs.

Secrets come from three places: a Redactor's own :meth:`Redactor.add` (a sweep's environment secrets),
and the process-wide registry every Redactor also consults, :func:`remember`, which the vault feeds with
every token it reveals (:meth:`vault.secret.Secret.reveal`) and which commands feed with the secrets they
load. "Process-wide" is deliberate: a token revealed to one check must be masked in every other output.
The registry holds secret forms for the life of the process; :func:`forget_all` drops them.

:meth:`Redactor.clip` scrubs *before* it cuts (a secret straddling the cut cannot leave its first
characters behind). :class:`RedactingFilter` puts the same Redactor in front of log handlers, and
:func:`fingerprint` names a secret with an HMAC under a per-installation key, so a fingerprint in
evidence cannot be used to confirm a guessed low-entropy secret offline.

This module is self-contained: ``vault`` does not import ``checks``.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import re
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

__all__ = [
    "MASK",
    "RedactingFilter",
    "Redactor",
    "fingerprint",
    "forget_all",
    "install",
    "process_redactor",
    "remember",
    "scrub_text",
    "secret_forms",
]

MASK = "***"
_MIN_SECRET = 4  # shorter "secrets" would shred ordinary words
_FRAGMENT = 12  # a provider-cut piece of a known form this long or longer is masked
MAX_SECRETS = 1000
"""A Redactor remembers at most this many secrets, forgetting the oldest first: a long-lived process (the
dashboard, a watcher) reveals new tokens for ever, and every scrub costs time in proportion to what it knows."""
_FP_ENV = "READINESS_FINGERPRINT_KEY"
_CLEAN_MAX = 256  # a text this short that scrubbing leaves as it is, is remembered as clean ...
_CLEAN_CAP = 4096  # ... up to this many (then forgotten all at once): the evidence keys and the constant values

_NAMES = (
    r"client_secret|client_assertion|access_token|refresh_token|id_token|auth_token|api_key|apikey|"
    r"password|passwd|secret|token|code|assertion|private_key"
)


@functools.cache
def _patterns() -> tuple[tuple[re.Pattern[str], str], ...]:
    """(pattern, replacement): the replacement keeps the name and masks the value. Compiled on the first scrub,
    not at import: ``readiness validate`` and ``--help`` install the filter but never scrub."""
    return (
        # Authorization: Bearer|Basic|Token <credential> (header lines, dict reprs, curl -H)
        (re.compile(r"(?i)(authorization[\"']?\s*[:=]\s*[\"']?(?:bearer|basic|token)\s+)[^\s\"',;<]+"), r"\1" + MASK),
        (re.compile(r"(?i)(?<![A-Za-z])((?:bearer|basic)(?:\s+|%20|\+))[A-Za-z0-9._~+/%=-]{6,}"), r"\1" + MASK),
        # JWTs (also JWS/JWE with more segments): header.payload[.signature]
        (re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]*)*"), MASK),
        # Google OAuth access and refresh tokens, Google OAuth client secrets
        (re.compile(r"\bya29\.[A-Za-z0-9._-]+"), MASK),
        (re.compile(r"(?<![A-Za-z0-9])1(?://|%2F%2F)[A-Za-z0-9._-]{10,}", re.IGNORECASE), MASK),
        (re.compile(r"\bGOCSPX-[A-Za-z0-9_-]{4,}"), MASK),
        # the vault service's own API tokens (vault.service_tokens)
        (re.compile(r"\brvs_[A-Za-z0-9_-]{16,}"), MASK),
        # name=value in query strings and form bodies, plain or URL-encoded (not status_code=, not barcode=)
        (
            re.compile(rf"(?i)(?<![A-Za-z0-9_])((?:{_NAMES})(?:=|%3D))[^&\s\"'<>%]+(?:%[0-9A-F]{{2}}[^&\s\"'<>%]*)*"),
            r"\1" + MASK,
        ),
        # "name": "value" (JSON, also JSON inside JSON) and 'name': 'value' (Python reprs)
        (re.compile(rf"(?i)(\"(?:{_NAMES})\"\s*:\s*\")(?:[^\"\\]|\\.)*(\")"), r"\1" + MASK + r"\2"),
        (re.compile(rf"(?i)(\\\"(?:{_NAMES})\\\"\s*:\s*\\\")(?:[^\\]|\\[^\"])*(\\\")"), r"\1" + MASK + r"\2"),
        (re.compile(rf"(?i)('(?:{_NAMES})'\s*:\s*')(?:[^'\\]|\\.)*(')"), r"\1" + MASK + r"\2"),
        # user:password@ in URLs (Twilio's https://AC...:authtoken@api.twilio.com)
        (re.compile(r"(?i)(\b[a-z][a-z0-9+.-]*://[^/\s:@]+:)[^@/\s]+(@)"), r"\1" + MASK + r"\2"),
    )


_RECORD_ATTRS = frozenset(vars(logging.LogRecord("x", logging.INFO, "x", 0, "x", None, None))) | {"message", "asctime"}
_SCRUBBED_BY = "_readiness_scrubbed_by"
"""The record attribute naming the filters (ids) that have scrubbed it, so a record crossing the same filter on
its logger and on a handler is scrubbed once."""


# --------------------------------------------------------------------------------------------- fingerprints

_fp_key: bytes | None = None
_fp_lock = threading.Lock()


def _fingerprint_key() -> bytes:
    """The per-installation fingerprint key: ``READINESS_FINGERPRINT_KEY``, else a 32-byte key kept in
    ``$XDG_CONFIG_HOME/readiness/fingerprint.key`` (created 0600 on first use), else one for this process."""
    import hashlib
    import secrets

    global _fp_key
    with _fp_lock:
        if _fp_key is not None:
            return _fp_key
        configured = os.environ.get(_FP_ENV, "")
        if len(configured) >= 16:
            _fp_key = hashlib.sha256(b"readiness/fingerprint/v1\0" + configured.encode()).digest()
            return _fp_key
        home = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
        path = home / "readiness" / "fingerprint.key"
        try:
            _fp_key = path.read_bytes()
            if len(_fp_key) != 32:
                raise OSError("bad key length")
        except OSError:
            key = secrets.token_bytes(32)
            try:
                path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "wb") as out:
                    out.write(key)
            except FileExistsError:  # another process made it first: use theirs
                with contextlib.suppress(OSError):
                    key = path.read_bytes() if len(path.read_bytes()) == 32 else key
            except OSError:
                pass  # read-only home: fingerprints are stable within this process only
            _fp_key = key
        return _fp_key


def fingerprint(value: str | bytes | bytearray) -> str:
    """``fp:<16 hex>``: a stable name for a secret, an HMAC-SHA256 under the per-installation key.

    Without the key a fingerprint confirms nothing: a guessed secret cannot be checked against it offline.
    """
    import hashlib
    import hmac

    data = value.encode() if isinstance(value, str) else bytes(value)
    return "fp:" + hmac.new(_fingerprint_key(), data, hashlib.sha256).hexdigest()[:16]


def _reset_fingerprint_key() -> None:
    """For tests: forget the cached key so the environment or file is read again."""
    global _fp_key
    with _fp_lock:
        _fp_key = None


# --------------------------------------------------------------------------------------------- forms


def _b64_cores(raw: bytes) -> set[str]:
    """Base64 of ``raw`` as it appears inside the base64 of any longer blob, at each byte alignment."""
    import base64

    cores: set[str] = set()
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + raw).decode()
        start = 4 if offset else 0  # the first group mixes in the bytes before the secret
        whole = (offset + len(raw)) // 3 * 4  # the last partial group mixes in the bytes after it
        cores.add(encoded[start:whole])
    cores.add(base64.b64encode(raw).decode())  # the secret alone, padded
    return cores


def forms_of(secret: str | bytes | bytearray) -> set[str]:
    """Every form of ``secret`` a provider could reflect (see the module docstring)."""
    import html
    import json

    raw = secret.encode() if isinstance(secret, str) else bytes(secret)
    forms: set[str] = set()
    text: str | None = secret if isinstance(secret, str) else None
    if text is None:
        with contextlib.suppress(UnicodeDecodeError):
            text = raw.decode()
    if text is not None:
        forms |= {
            text,
            html.escape(text),
            json.dumps(text)[1:-1],
            json.dumps(text, ensure_ascii=False)[1:-1],
            json.dumps(json.dumps(text)[1:-1])[1:-1],
            json.dumps(text)[1:-1].replace("/", "\\/"),
            quote(text, safe=""),
            quote(text),
            quote_plus(text),
            quote(quote(text, safe=""), safe=""),
        }
    for core in _b64_cores(raw):
        forms |= {core, core.rstrip("="), core.translate(str.maketrans("+/", "-_")).rstrip("=")}
    forms |= {raw.hex(), raw.hex().upper(), repr(raw)[2:-1]}
    return {f for f in forms if len(f) >= _MIN_SECRET}


secret_forms = forms_of
"""The name the refresher knows :func:`forms_of` by."""


# --------------------------------------------------------------------------------------------- the Redactor


def _sha256(raw: bytes) -> bytes:
    import hashlib  # with the other digests' modules, loaded on the first secret: validate never needs it

    return hashlib.sha256(raw).digest()


def _continues(char: str) -> bool:
    """Whether ``char`` would continue a token (so a match that stops before it is another token's prefix)."""
    return char.isalnum() or char in "-_"


class Redactor:
    """Masks known secrets (every form, fragments at either end) and token shapes.

    ``label(raw)`` is what replaces a known secret: ``***`` by default; the checks' scrubber shows the
    secret's keyed :func:`fingerprint` so a person can tell *which* secret a provider reflected.
    ``inherit``: also mask what the process-wide registry knows (every Redactor but the registry does).
    """

    def __init__(
        self,
        secrets: Iterable[str | bytes | bytearray] = (),
        *,
        label: Callable[[str | bytes], str] | None = None,
        inherit: bool = True,
    ) -> None:
        self._lock = threading.Lock()
        self._forms: dict[str, str] = {}  # form -> replacement
        self._by_secret: dict[bytes, set[str]] = {}  # insertion order: oldest first, for the cap
        self._index: tuple[list[tuple[str, str, str, str]], int] | None = None
        self._generation = 0  # bumped whenever the registered forms change
        # Short texts scrubbing left unchanged, valid for one (own, registry) generation: a sweep scrubs the
        # same evidence keys and values for every check. Only unchanged texts: nothing held here was masked.
        self._clean: set[str] = set()
        self._clean_stamp = (0, 0)
        self._label = label or (lambda _raw: MASK)
        self._inherit = inherit
        for secret in secrets:
            self.add(secret)

    def add(self, secret: str | bytes | bytearray | None) -> None:
        """Register a secret (shorter than 4 characters: ignored) in all its forms."""
        if secret is None:
            return
        raw = secret.encode() if isinstance(secret, str) else bytes(secret)
        if len(raw) < _MIN_SECRET:
            return
        key = _sha256(raw)
        with self._lock:
            if key in self._by_secret:
                return
        forms = forms_of(secret)
        with self._lock:
            shown = self._label(raw)
            for form in forms:
                self._forms.setdefault(form, shown)
            self._by_secret[key] = forms
            while len(self._by_secret) > MAX_SECRETS:  # a long-lived process: forget the oldest secret
                oldest = next(iter(self._by_secret))
                for form in self._by_secret.pop(oldest):
                    if not any(form in kept for kept in self._by_secret.values()):
                        self._forms.pop(form, None)
            self._index = None
            self._generation += 1

    @property
    def forms(self) -> int:
        """How many secret forms are registered here (never the forms themselves)."""
        return len(self._forms)

    def __len__(self) -> int:
        return len(self._forms)

    def _lookup(self) -> tuple[list[tuple[str, str, str, str]], int]:
        index = self._index
        if index is None:
            with self._lock:
                entries = [(f, r, f[:_FRAGMENT], f[-_FRAGMENT:]) for f, r in self._forms.items()]
                entries.sort(key=lambda e: len(e[0]), reverse=True)
                index = self._index = (entries, max((len(e[0]) for e in entries), default=0))
        return index

    def _spans(self, text: str, spans: list[tuple[int, int, str, bool]]) -> None:
        """Append ``(start, end, mask, fragment)`` for every registered form (or piece of one) in ``text``."""
        entries, _ = self._lookup()
        for form, shown, head, tail in entries:
            if len(form) < _FRAGMENT + 4:  # short forms: whole occurrences only
                start = text.find(form)
                while start != -1:
                    spans.append((start, start + len(form), shown, False))
                    start = text.find(form, start + 1)
                continue
            start = text.find(head)
            while start != -1:  # a head: extend as far as the text agrees with the form
                end = start + _FRAGMENT
                while end < len(text) and end - start < len(form) and text[end] == form[end - start]:
                    end += 1
                # A piece of our secret ends where the text's token ends; text that goes on with other
                # letters is another token sharing a prefix (every Google token starts ``ya29.a0``):
                # leave it whole for the token shapes, which mask all of it.
                if end - start == len(form) or end == len(text) or not _continues(text[end]):
                    spans.append((start, end, shown, end - start < len(form)))
                start = text.find(head, start + 1)
            stop = text.find(tail)
            while stop != -1:  # a tail: extend backwards
                end, begin, k = stop + _FRAGMENT, stop, len(form) - _FRAGMENT - 1
                while begin > 0 and k >= 0 and text[begin - 1] == form[k]:
                    begin, k = begin - 1, k - 1
                if end - begin == len(form) or begin == 0 or not _continues(text[begin - 1]):
                    spans.append((begin, end, shown, end - begin < len(form)))
                stop = text.find(tail, stop + 1)

    def longest(self) -> int:
        """Length of the longest registered form, this Redactor's or the registry's."""
        own = self._lookup()[1]
        return max(own, _PROCESS._lookup()[1]) if self._inherit and self is not _PROCESS else own

    def scrub(self, text: str) -> str:
        """``text`` with every token shape and every registered secret form masked.

        Shapes go first: a token is masked whole by its shape before a registered secret that shares its
        prefix could mask only that prefix."""
        if not text:
            return text
        clean = self._clean_texts()  # taken before the forms are read: a set a later add made stale is dropped
        if text in clean:
            return text
        original = text
        for pattern, replacement in _patterns():
            if pattern.search(text):  # a miss costs the scan alone: ``sub`` first expands the template, every call
                text = pattern.sub(replacement, text)
        spans: list[tuple[int, int, str, bool]] = []
        self._spans(text, spans)
        if self._inherit and self is not _PROCESS:
            _PROCESS._spans(text, spans)
        if spans:
            # Longest first; for the same text a whole registered secret names it, not a longer secret that
            # merely starts or ends the same way (the Scrubber's fingerprint must say which secret it was).
            spans.sort(key=lambda s: (s[0], -s[1], s[3]))
            out, pos = [], 0
            for start, end, shown, _ in spans:
                if end <= pos:
                    continue
                if start < pos:  # overlaps the previous mask: extend it
                    pos = end
                    continue
                out.append(text[pos:start])
                out.append(shown)
                pos = end
            out.append(text[pos:])
            text = "".join(out)
        if text == original and len(text) <= _CLEAN_MAX:
            if len(clean) >= _CLEAN_CAP:
                clean.clear()
            clean.add(text)
        return text

    __call__ = scrub

    def _clean_texts(self) -> set[str]:
        """The texts known to scrub to themselves under the forms registered now (here and in the registry)."""
        stamp = (self._generation, _PROCESS._generation if self._inherit and self is not _PROCESS else 0)
        if stamp != self._clean_stamp:
            self._clean, self._clean_stamp = set(), stamp
        return self._clean

    def clip(self, text: object, limit: int) -> str:
        """Scrubbed, *then* cut to ``limit`` characters (with ``…`` when cut).

        Only a window a little longer than ``limit`` is scrubbed, so a 1 MiB body costs what 200 characters
        do; the window is longer than any registered form, so a secret straddling the cut is masked whole.
        """
        raw = text if isinstance(text, str) else str(text)
        window = raw[: limit + self.longest() + 64]
        cleaned = self.scrub(window)
        if len(cleaned) <= limit and len(window) == len(raw):
            return cleaned
        return cleaned[: max(limit - 1, 0)] + "…"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({len(self._forms)} secret forms)"


_PROCESS = Redactor(inherit=False)


def process_redactor() -> Redactor:
    """The process-wide registry every Redactor consults."""
    return _PROCESS


def remember(secret: str | bytes | bytearray | None) -> None:
    """Teach the process-wide registry a secret this process handles (revealed, loaded, generated)."""
    _PROCESS.add(secret)


def forget_all() -> None:
    """Drop every secret the process-wide registry holds (tests; a long-lived process between scopes)."""
    with _PROCESS._lock:
        _PROCESS._forms.clear()
        _PROCESS._by_secret.clear()
        _PROCESS._index = None
        _PROCESS._generation += 1


def scrub_text(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with the given secrets, the registry's and every known token shape replaced by ``***``."""
    return Redactor(secrets).scrub(text)


# --------------------------------------------------------------------------------------------- logging


class RedactingFilter(logging.Filter):
    """Rewrites records so that no registered secret and no token-shaped string reaches a handler."""

    def __init__(self, secrets: Iterable[str | bytes | bytearray] = (), name: str = "") -> None:
        super().__init__(name)
        self._redactor = Redactor(secrets)

    def add(self, secret: str | bytes | bytearray) -> None:
        """Register a secret in all its forms (see :func:`forms_of`)."""
        self._redactor.add(secret)

    @property
    def forms(self) -> int:
        """How many secret forms are registered (never the forms themselves)."""
        return self._redactor.forms

    def scrub(self, text: str) -> str:
        """``text`` with registered secrets and token shapes masked."""
        return self._redactor.scrub(text)

    def filter(self, record: logging.LogRecord) -> bool:
        seen: frozenset[int] = record.__dict__.get(_SCRUBBED_BY, frozenset())
        if id(self) in seen:  # this filter has scrubbed it already (on its logger, now on a handler): once is enough
            return True
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
        for key in record.__dict__.keys() - _RECORD_ATTRS:  # ``extra`` fields (a set difference, in C)
            if key != _SCRUBBED_BY:
                setattr(record, key, self._scrub_value(record.__dict__[key]))
        record.__dict__[_SCRUBBED_BY] = seen | {id(self)}
        return True

    def _scrub_value(self, value: Any, depth: int = 0) -> Any:
        """Strings inside ``extra`` fields (google's structured logging puts requests there)."""
        if isinstance(value, str):
            return self.scrub(value)
        if depth > 5 and isinstance(value, dict | list | tuple):  # too deep (or cyclic) to walk: its text, scrubbed
            return self.scrub(repr(value))
        if isinstance(value, dict):
            return {k: self._scrub_value(v, depth + 1) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return type(value)(self._scrub_value(v, depth + 1) for v in value)
        return value

    def __repr__(self) -> str:
        return f"RedactingFilter({self.forms} secret forms)"


def install(logger: logging.Logger | None = None, redacting: RedactingFilter | None = None) -> RedactingFilter:
    """Attach a redacting filter to every handler of the root logger and to ``logger`` (default: root).

    Idempotent: a filter already installed on ``logger`` is reused (pass ``redacting`` to choose one).
    Handlers added to the root logger later need ``handler.addFilter(filter)`` or another ``install()``.
    The filter also masks everything the process-wide registry (:func:`remember`) knows.
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
