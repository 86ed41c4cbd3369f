"""The project's one error tree.

    ReadinessError                 root of everything Readiness raises on purpose
     ├── ManifestError             (checks.core.errors) the manifest is unusable; names file and field path
     ├── CheckError                (checks.core.errors) a check kind or the registry is misused
     ├── DatabaseUnavailable       a database URL is unusable (not a URL, unsupported backend, no driver)
     └── VaultError                the token vault refused or failed an operation
          ├── AccessDenied         the actor's role does not allow the operation (audited)
          ├── IntegrityError       a ciphertext or audit entry failed authentication (audited);
          │                        deliberately says nothing about *why*
          └── KeyUnavailable       the key source is missing, unreachable or holds an unknown key

The root lives here, in the bottom layer, because ``vault`` must not import ``checks``;
``checks.core.errors`` builds its branch on top of it.
"""

from __future__ import annotations

__all__ = ["AccessDenied", "DatabaseUnavailable", "IntegrityError", "KeyUnavailable", "ReadinessError", "VaultError"]


class ReadinessError(Exception):
    """Root of every error Readiness raises deliberately. Messages never carry a secret."""


class DatabaseUnavailable(ReadinessError):
    """A database URL (``--db``, ``READINESS_DB_URL``, ``TOKEN_VAULT_DB_URL``) cannot be used: not a URL,
    a backend or driver this installation lacks. One line, the URL's password masked."""


class VaultError(ReadinessError):
    """The token vault refused or failed an operation."""


class AccessDenied(VaultError):
    """The actor's role does not allow this operation on this tenant. The denial is audited."""


class IntegrityError(VaultError):
    """A ciphertext, wrapped key or audit entry failed authentication.

    Opaque on purpose (like cryptography's ``InvalidToken``): it never says which byte or why.
    """


class KeyUnavailable(VaultError):
    """The key source is missing, unreachable, malformed, or holds a key the vault does not know."""
