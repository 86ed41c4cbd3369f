"""Kind ``env``: an environment variable is set, is not a placeholder, and has the shape its type needs.

The value is never shown, not even in part: evidence holds its fingerprint and length, and every
message describes what is wrong with it in words.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field

from checks.core.hookspecs import CheckContext, check_kind
from checks.core.manifest import EnvType
from checks.core.redact import fingerprint
from checks.core.result import Result
from checks.core.status import Status

__all__ = ["EnvParams", "env"]


class EnvParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    variable: str = Field(min_length=1)
    """Name of the environment variable, e.g. ``GOOGLE_OAUTH_CLIENT_ID``."""
    type: EnvType = "string"
    """The shape the value must have."""
    secret: bool = True
    """Register the value with the scrubber. Shown or not, the value never appears in the result."""
    required: bool = True
    """When false, an unset variable passes (a set but invalid one still fails)."""


@dataclass(frozen=True)
class _Finding:
    reason: str
    """Follows the variable's name: ``is not a GUID (...)``. Never quotes the value."""
    how: str = ""
    """Overrides the type's own fix when this finding needs a different one."""
    status: Status = Status.FAIL


@dataclass(frozen=True)
class _Rule:
    what: str
    """``a Google OAuth client ID (expected ...)``: used as ``NAME is not {what}``."""
    how: str
    """Where the right value comes from."""
    validate: Callable[[str], _Finding | None]


_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_DOMAIN = re.compile(r"(?=.{4,253}$)([a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\.)+[a-zA-Z]{2,63}")
_GOOGLE_ID = re.compile(r"\d+-[a-zA-Z0-9]+\.apps\.googleusercontent\.com")
_PLACEHOLDER_WORDS = frozenset(
    {
        "changeme", "replaceme", "placeholder", "todo", "tbd", "fixme", "example", "sample", "dummy",
        "none", "null", "nil", "undefined", "notset", "unset", "secret", "password",
    }
)  # fmt: skip
_PLACEHOLDER_TOKENS = frozenset({"placeholder", "changeme", "replaceme", "example", "fixme"})


def _placeholder(value: str) -> str | None:
    """Why ``value`` is a placeholder rather than a real value, in words; None when it is not one."""
    low = value.strip().strip("\"'").lower()
    compact = re.sub(r"[\s_.-]", "", low)
    if not low:
        return "is set but empty"
    if re.search(r"<[^<>]*>", value):
        return "is still a <...> template placeholder"
    if re.search(r"\$\{[^}]*\}|\{\{[^}]*\}\}", value):
        return "is an unexpanded ${...} reference"
    if not compact or compact in _PLACEHOLDER_WORDS or re.fullmatch(r"x{3,}|\*{3,}|\?+", compact):
        return "is a placeholder word, not a real value"
    if re.match(r"(your|insert|enter|replace|put)[-_ ]", low) or re.search(r"x{6,}", low):
        return "is a placeholder (template text), not a real value"
    if _PLACEHOLDER_TOKENS & set(re.split(r"[^a-z0-9]+", low)):
        return "contains a placeholder word, not a real value"
    return None


def _too_short(value: str, minimum: int) -> _Finding | None:
    if len(value) < minimum:
        return _Finding(f"is too short to be real ({len(value)} characters, needs at least {minimum})")
    if re.search(r"\s", value):
        return _Finding("contains whitespace")
    return None


def _google_client_id(value: str) -> _Finding | None:
    if value.startswith("GOCSPX-"):
        return _Finding("looks like the client secret, not the client ID")
    return None if _GOOGLE_ID.fullmatch(value) else _Finding("")


def _google_client_secret(value: str) -> _Finding | None:
    if _GOOGLE_ID.fullmatch(value):
        return _Finding("looks like the client ID, not the client secret")
    if value.startswith("GOCSPX-") and not re.fullmatch(r"GOCSPX-[A-Za-z0-9_-]{20,}", value):
        return _Finding("starts with GOCSPX- but the rest is cut short or has stray characters")
    return _too_short(value, 16)


def _guid(value: str) -> _Finding | None:
    return None if _GUID.fullmatch(value) else _Finding("")


def _microsoft_tenant_id(value: str) -> _Finding | None:
    if value.lower() in ("common", "organizations", "consumers"):
        return _Finding(
            "is a multi-tenant alias, not a tenant (client credentials need the tenant itself)",
            how="set the Directory (tenant) ID GUID from Azure Portal › App registrations › Overview",
        )
    return None if _GUID.fullmatch(value) or _DOMAIN.fullmatch(value) else _Finding("")


def _microsoft_client_secret(value: str) -> _Finding | None:
    if _GUID.fullmatch(value):
        return _Finding(
            "looks like the secret's ID, not its value",
            how="copy the Value column (shown once, when the secret is created) from Azure Portal › "
            "App registrations › Certificates & secrets; create a new secret if it is hidden",
        )
    short = _too_short(value, 16)
    if short:
        return short
    if len(value) < 30:
        return _Finding(
            f"is shorter than Azure's generated secrets ({len(value)} characters, they have 30 or more)",
            how="check the whole Value was copied from Azure Portal › App registrations › Certificates & secrets",
            status=Status.WARN,
        )
    return None


def _twilio_account_sid(value: str) -> _Finding | None:
    if value.startswith("SK"):
        return _Finding("looks like an API key SID (SK...), not the Account SID (AC...)")
    return None if re.fullmatch(r"AC[0-9a-f]{32}", value) else _Finding("")


def _twilio_auth_token(value: str) -> _Finding | None:
    if re.fullmatch(r"AC[0-9a-f]{32}", value):
        return _Finding("looks like the Account SID, not the auth token")
    return None if re.fullmatch(r"[0-9a-fA-F]{32}", value) else _Finding("")


def _url(value: str) -> _Finding | None:
    if re.search(r"\s", value):
        return _Finding("contains whitespace")
    try:
        parts = urlsplit(value)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return _Finding("does not parse as a URL")
    if parts.scheme not in ("http", "https") or not host:
        return _Finding("is not an absolute http(s) URL")
    if parts.scheme == "http" and not _loopback(host):
        return _Finding("uses plain http:// off loopback", how="use https:// (http is allowed only on 127.0.0.1)")
    return None


def _loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _vault_key(value: str) -> _Finding | None:
    text = value.replace("-", "+").replace("_", "/")
    text += "=" * (-len(text) % 4) if "=" not in text else ""
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return _Finding("is not base64")
    if len(raw) != 32:
        hint = " (it looks like hex; this key is base64)" if re.fullmatch(r"[0-9a-fA-F]{64}", value) else ""
        return _Finding(f"decodes to {len(raw)} bytes, not 32{hint}")
    if len(set(raw)) < 8:
        return _Finding("is not random (it decodes to a constant or repeating byte pattern)")
    return None


def _id_list(value: str) -> _Finding | None:
    ids = [part.strip() for part in value.split(",")]
    if any(not i for i in ids):
        return _Finding("has a blank entry (a stray or trailing comma)")
    if any(re.search(r"\s", i) for i in ids):
        return _Finding("has an id with whitespace inside (separate ids with commas)")
    if len(set(ids)) != len(ids):
        return _Finding("lists the same id twice")
    return None


_RULES: dict[str, _Rule] = {
    "google_client_id": _Rule(
        "a Google OAuth client ID (expected <digits>-<id>.apps.googleusercontent.com)",
        "copy it from Google Cloud Console › APIs & Services › Credentials",
        _google_client_id,
    ),
    "google_client_secret": _Rule(
        "a Google OAuth client secret (expected GOCSPX-..., or a 24-character legacy secret)",
        "copy it from Google Cloud Console › APIs & Services › Credentials › your OAuth client",
        _google_client_secret,
    ),
    "microsoft_client_id": _Rule(
        "a Microsoft application (client) ID (expected a GUID)",
        "copy the Application (client) ID from Azure Portal › App registrations › Overview",
        _guid,
    ),
    "microsoft_tenant_id": _Rule(
        "a Microsoft tenant (expected the Directory (tenant) ID GUID or a verified domain)",
        "copy the Directory (tenant) ID from Azure Portal › App registrations › Overview",
        _microsoft_tenant_id,
    ),
    "microsoft_client_secret": _Rule(
        "a Microsoft client secret value",
        "copy the Value column from Azure Portal › App registrations › Certificates & secrets",
        _microsoft_client_secret,
    ),
    "twilio_account_sid": _Rule(
        "a Twilio Account SID (expected AC followed by 32 lowercase hex characters)",
        "copy the Account SID from Twilio Console › Account Info",
        _twilio_account_sid,
    ),
    "twilio_auth_token": _Rule(
        "a Twilio auth token (expected 32 hex characters)",
        "copy the Auth Token from Twilio Console › Account Info",
        _twilio_auth_token,
    ),
    "retell_api_key": _Rule(
        "a Retell API key (at least 16 characters)",
        "copy an API key from the Retell dashboard › API Keys",
        lambda v: _too_short(v, 16),
    ),
    "api_key": _Rule(
        "an API key (at least 16 characters, no whitespace)",
        "ask the service's owner for the key and paste it whole",
        lambda v: _too_short(v, 16),
    ),
    "url": _Rule(
        "a usable URL (https, or http on loopback only)",
        "set it to the service's https:// URL",
        _url,
    ),
    "vault_key": _Rule(
        "a token vault key (expected base64 of 32 random bytes)",
        'generate one with `python -c "import base64, os; '
        'print(base64.urlsafe_b64encode(os.urandom(32)).decode())"` and keep it in Secret Manager',
        _vault_key,
    ),
    "id_list": _Rule(
        "a comma-separated list of ids",
        "list the ids separated by commas, e.g. id1,id2",
        _id_list,
    ),
    "string": _Rule("a non-empty value", "set it to the real value", lambda v: None),
}


@check_kind("env", params=EnvParams)
async def env(params: EnvParams, ctx: CheckContext) -> Result:
    """Reads an environment variable (process environment over ``.env``; calls nothing): fails when it
    is unset, a placeholder such as ``<from_google_console>``, or not shaped like its type (a Google
    client ID, a GUID, an ``AC...`` SID, base64 of 32 bytes, ...); warns on a suspicious but usable
    value. Never shows the value: evidence holds its fingerprint and length."""
    name, rule = params.variable, _RULES[params.type]
    sources = ctx.extras.get("env_sources")
    source = sources.get(name) if isinstance(sources, dict) else None
    evidence: dict[str, object] = {"variable": name, "type": params.type, "present": False, "source": source}
    where = f"Set {name} in the process environment or the .env file next to the manifest (the environment wins)"
    if source:
        where += f"; it currently comes from the {source}"

    raw = ctx.env.get(name)
    if raw is None:
        if not params.required:
            return Result.passed(f"{name} is not set (optional)", **evidence)
        return Result.failed(f"{name} is not set: {rule.how}", remediation=f"{where}.", **evidence)

    # Every value is handled as a secret here: never shown. Only secret ones join the sweep's shared
    # scrubber, which would otherwise mask a plain URL or id list in every other check's output.
    if params.secret and raw.strip():
        ctx.secret(name)
    evidence.update(present=True, length=len(raw))
    if raw:
        evidence["fingerprint"] = fingerprint(raw)
    placeholder = _placeholder(raw)
    if placeholder:
        return Result.failed(f"{name} {placeholder}: {rule.how}", remediation=f"{where}.", placeholder=True, **evidence)
    if raw != raw.strip():
        return Result.failed(
            f"{name} has leading or trailing whitespace: remove it", remediation=f"{where}.", **evidence
        )
    if raw[0] == raw[-1] and raw[0] in "\"'" and len(raw) > 1:
        return Result.failed(f"{name} is wrapped in quotes: remove them", remediation=f"{where}.", **evidence)

    finding = rule.validate(raw)
    if finding is None:
        return Result.passed(f"{name} is set and looks like {rule.what.split(' (')[0]}", **evidence)
    reason = finding.reason or f"is not {rule.what}"
    summary = f"{name} {reason}: {finding.how or rule.how}"
    if finding.status is Status.WARN:
        return Result.warned(summary, remediation=f"{where}.", **evidence)
    return Result.failed(summary, remediation=f"{where}.", **evidence)
