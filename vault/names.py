"""What a tenant, provider or account name may be: the one rule, for the library, the CLI and the service.

A name is text a person could type and read back: not blank, no control characters (a NUL is refused by
PostgreSQL and would end a C string; a CR or LF would forge a line of a log or a report) and no lone surrogates
(which have no UTF-8 form), and no longer than its column (a longer one would be cut or refused by the database).
Checked before anything is looked up or written, so a bad name is the caller's error, never the database's.
"""

from __future__ import annotations

import unicodedata

from vault.errors import VaultError
from vault.models import Credential

__all__ = ["NAME_LIMITS", "check_name", "check_names"]

NAME_LIMITS: dict[str, int] = {
    what: int(getattr(Credential.__table__.c[what].type, "length", 0) or 0)
    for what in ("tenant", "provider", "account")
}
"""The longest name of each kind, in characters: the width of its column."""


def check_name(value: object, what: str) -> str:
    """``value`` if it is a valid ``what`` (tenant, provider or account); otherwise a :class:`VaultError` that says
    why without repeating the value (it may be anything a caller sent)."""
    if not isinstance(value, str) or not value.strip():
        raise VaultError(f"{what} must be a non-empty string")
    limit = NAME_LIMITS[what]
    if len(value) > limit:
        raise VaultError(f"{what} is longer than {limit} characters")
    if any(unicodedata.category(c) in ("Cc", "Cs") for c in value):
        raise VaultError(f"{what} must not contain control characters")
    return value


def check_names(*, given_only: bool = False, **names: str | None) -> None:
    """Each name given by keyword (``tenant=``, ``provider=``, ``account=``) is valid (:func:`check_name`). With
    ``given_only``, ``None`` stands for a name left out (a filter not given) and is not checked; otherwise it is
    refused like any other non-string."""
    for what, value in names.items():
        if value is not None or not given_only:
            check_name(value, what)
