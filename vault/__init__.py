"""The compact token vault (envelope AES-256-GCM, rotation, RBAC, audit chain, refresher).

The names below are loaded on first use (PEP 562), so ``import vault.errors`` or ``import vault.redact``
stays light: neither SQLAlchemy nor the store comes with them, and no module of the vault imports from
this package's ``__init__``.
"""

import importlib as _importlib
import typing as _typing

if _typing.TYPE_CHECKING:
    from vault.audit import AuditEvent, AuditReport
    from vault.errors import AccessDenied, IntegrityError, KeyUnavailable, ReadinessError, VaultError
    from vault.keys import KeySource, StaticKeySource
    from vault.rbac import Actor, Op, Role
    from vault.secret import Secret, TokenSet
    from vault.store import CredentialInfo, RotationReport, SystemClock, Vault, VaultStats

_HOME = {
    "AuditEvent": "vault.audit",
    "AuditReport": "vault.audit",
    "AccessDenied": "vault.errors",
    "IntegrityError": "vault.errors",
    "KeyUnavailable": "vault.errors",
    "ReadinessError": "vault.errors",
    "VaultError": "vault.errors",
    "KeySource": "vault.keys",
    "StaticKeySource": "vault.keys",
    "Actor": "vault.rbac",
    "Op": "vault.rbac",
    "Role": "vault.rbac",
    "Secret": "vault.secret",
    "TokenSet": "vault.secret",
    "CredentialInfo": "vault.store",
    "RotationReport": "vault.store",
    "SystemClock": "vault.store",
    "Vault": "vault.store",
    "VaultStats": "vault.store",
}

__all__ = [
    "AccessDenied",
    "Actor",
    "AuditEvent",
    "AuditReport",
    "CredentialInfo",
    "IntegrityError",
    "KeySource",
    "KeyUnavailable",
    "Op",
    "ReadinessError",
    "Role",
    "RotationReport",
    "Secret",
    "StaticKeySource",
    "SystemClock",
    "TokenSet",
    "Vault",
    "VaultError",
    "VaultStats",
]


def __getattr__(name: str) -> object:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module 'vault' has no attribute {name!r}")
    value = getattr(_importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
