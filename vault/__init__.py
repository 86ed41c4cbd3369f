"""The compact token vault (envelope AES-256-GCM, rotation, RBAC, audit chain, refresher)."""

from vault.errors import AccessDenied, IntegrityError, KeyUnavailable, ReadinessError, VaultError

__all__ = ["AccessDenied", "IntegrityError", "KeyUnavailable", "ReadinessError", "VaultError"]
