"""A token endpoint's answer, classified for the refresher; provider text is never kept raw.

Token endpoints echo requests back more often than one would hope (a proxy's debug page, a 400 that
quotes the form body), and the form body carries the refresh token and the client secret. So from an
error answer the refresher keeps only:

* the OAuth ``error`` code, if it looks like one (``^[a-z_]{1,64}$``), else ``unrecognised``;
* the HTTP status;
* ``error_description`` (or GHL's ``message``), whitespace folded, control characters dropped, every
  form of the refresh token, the client secret and ``client_id:client_secret`` that
  :func:`vault.redact.secret_forms` knows (raw, url-encoded, JSON-escaped, base64, hex) and every token
  shape masked, and only *then* cut to :data:`DESCRIPTION_CHARS` (cutting first could leave half a secret
  that no longer matches).

Nothing else of the body (other fields, HTML, text) is read.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx

from vault.redact import scrub_text, secret_forms
from vault.retry import DELAY_SECONDS, MAX_RETRY_AFTER, retry_after
from vault.secret import Secret

__all__ = ["DESCRIPTION_CHARS", "ERROR_CODE", "MIN_DELAY", "Answer", "classify", "scrubbed"]

ERROR_CODE = re.compile(r"^[a-z_]{1,64}$")
"""What an OAuth ``error`` code looks like (RFC 6749 §5.2 codes and the providers' own)."""
DESCRIPTION_CHARS = 160
MIN_DELAY = timedelta(seconds=1)
"""The refresher never tries again sooner than this, whatever Retry-After or the backoff say."""
_MEDIA_TYPE = re.compile(r"^[a-z0-9.+-]{1,40}/[a-z0-9.+-]{1,40}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


@dataclass
class Answer:
    """The token endpoint's answer, classified. Holds the new tokens as Secrets until stored."""

    kind: str
    """``ok``, ``invalid_grant``, ``rate_limited``, ``transient``, ``error``."""
    detail: str | None = None
    """What ``last_refresh_error`` gets: built from ``error``, ``status`` and ``description`` only."""
    status: int | None = None
    error: str | None = None
    """The OAuth error code (allow-listed shape) or ``unrecognised``."""
    description: str | None = None
    """The scrubbed, cut ``error_description``."""
    retry_after: timedelta | None = None
    access_token: Secret | None = None
    refresh_token: Secret | None = None
    expires_in: int | None = None
    scopes: list[str] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def audit(self) -> dict[str, Any]:
        """The audit detail of a failed answer: code, status and the scrubbed description, nothing else."""
        return {"error": self.error, "status": self.status, "description": self.description}

    def wipe(self) -> None:
        for secret in (self.access_token, self.refresh_token):
            if secret is not None:
                secret.wipe()


def classify(
    response: httpx.Response, *, refresh_token: Secret, client_id: str, client_secret: Secret, now: datetime
) -> Answer:
    """Sort an answer into ok / invalid_grant / rate_limited / transient / error; see the module doc."""
    status = response.status_code
    body: Any = None
    try:
        body = response.json()
    except ValueError:
        body = None
    if status == 200:
        return _token_answer(body, response)
    if status == 429:
        asked = retry_after(response.headers.get("retry-after"), now)  # the one policy (vault.retry)
        wait = None if asked is None else max(asked, MIN_DELAY)
        return Answer("rate_limited", _limited_detail(response, wait), status, retry_after=wait)
    if status >= 500:
        return Answer("transient", f"HTTP {status} from the token endpoint", status)
    error, raw = _oauth_error(body)
    said = scrubbed(raw, _known(refresh_token, client_id, client_secret)) if raw else ""
    if error == "invalid_grant" and status in (400, 401):
        shown = f"invalid_grant: {said}" if said else "invalid_grant"
        return Answer("invalid_grant", shown, status, error, said or None)
    shown = f"HTTP {status}" + (f" {error}" if error else "") + (f": {said}" if said else "")
    if error == "invalid_client":
        shown += " (check the client id and secret of this provider)"
    return Answer("error", shown, status, error or None, said or None)


def scrubbed(text: str, known: Iterable[str]) -> str:
    """``text`` folded to one line, secrets and token shapes masked, then cut to :data:`DESCRIPTION_CHARS`."""
    clean = scrub_text(" ".join(_CONTROL.sub(" ", text).split()), known)
    return clean if len(clean) <= DESCRIPTION_CHARS else clean[: DESCRIPTION_CHARS - 1] + "…"


def _known(refresh_token: Secret, client_id: str, client_secret: Secret) -> set[str]:
    known: set[str] = set()
    if not refresh_token.wiped:
        known |= secret_forms(refresh_token.reveal())
    if not client_secret.wiped:
        secret = client_secret.reveal()
        known |= secret_forms(secret) | secret_forms(f"{client_id}:{secret}")  # HTTP Basic, as sent or echoed
    return known


def _oauth_error(body: Any) -> tuple[str, str]:
    """(error code or "unrecognised" or "", description): the code only if it has a code's shape."""
    if not isinstance(body, dict):
        return "", ""
    error = body.get("error")
    description = body.get("error_description") or body.get("message") or ""
    code = "" if error is None else error if isinstance(error, str) and ERROR_CODE.match(error) else "unrecognised"
    return code, description if isinstance(description, str) else ""


def _token_answer(body: Any, response: httpx.Response) -> Answer:
    kind = response.headers.get("content-type", "").split(";")[0].strip().lower()
    kind = kind if _MEDIA_TYPE.match(kind) else "?"  # a header is provider text too: only a media type's shape
    if not isinstance(body, dict) or not isinstance(body.get("access_token"), str) or not body["access_token"]:
        return Answer("transient", f"the token endpoint answered 200 without a JSON access token ({kind})", 200)
    expires_in: int | None = None
    if body.get("expires_in") is not None:
        try:
            expires_in = int(float(body["expires_in"]))
        except (TypeError, ValueError):
            return Answer("transient", "the token endpoint answered an unreadable expires_in", 200)
        if expires_in <= 0:
            return Answer("transient", "the token endpoint answered a token that has already expired", 200)
    refresh = body.get("refresh_token")
    scope = body.get("scope")
    return Answer(
        "ok",
        status=200,
        access_token=Secret(body["access_token"]),
        refresh_token=Secret(refresh) if isinstance(refresh, str) and refresh else None,
        expires_in=expires_in,
        scopes=scope.split() if isinstance(scope, str) and scope.strip() else None,
    )


def _limited_detail(response: httpx.Response, wait: timedelta | None) -> str:
    """The header's own text only when it is a number of seconds; a date as the wait it means."""
    value = response.headers.get("retry-after", "").strip()
    seconds = DELAY_SECONDS.fullmatch(value) is not None
    if seconds:
        shown = f"{value} s" if len(value) <= 12 else f"a {len(value)}-digit number of seconds"
    else:
        shown = f"a date, {wait.total_seconds():g} s" if wait else "not given"
    cap = MAX_RETRY_AFTER.total_seconds()
    if wait == MAX_RETRY_AFTER and not (seconds and int(value) == cap):
        shown += f"; waiting the cap, {cap:g} s"
    return f"HTTP 429 from the token endpoint (Retry-After: {shown})"
