"""The compact token vault (envelope AES-256-GCM, rotation, RBAC, audit chain, refresher)."""

from vault.audit import AuditEvent, AuditReport
from vault.errors import AccessDenied, IntegrityError, KeyUnavailable, ReadinessError, VaultError
from vault.keys import KeySource, StaticKeySource
from vault.rbac import Actor, Op, Role
from vault.secret import Secret, TokenSet
from vault.store import CredentialInfo, RotationReport, SystemClock, Vault, VaultStats

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
