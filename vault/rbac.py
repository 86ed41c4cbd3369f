"""Who may do what in the vault: roles, actors, and the permission matrix.

Every vault call takes an :class:`Actor` first. A denial raises :class:`~vault.errors.AccessDenied`
and is written to the audit log with outcome ``denied``.

==============  =======  ===========  =======  ======  ==============================================
operation       admin    service      auditor  viewer  what it is
==============  =======  ===========  =======  ======  ==============================================
put             yes      own tenants  no       no      store or replace a credential's tokens
get             yes      own tenants  no       no      reveal tokens (a ``TokenSet`` of ``Secret`` s)
list            yes      own tenants  yes      yes     credential metadata, never a token
revoke          yes      own tenants  no       no      mark revoked and erase the ciphertexts
refresh         yes      own tenants  no       no      the refresher's writes (``vault.refresh``)
stats           yes      no           yes      yes     counts for dashboards, metadata only
audit_read      yes      no           yes      no      read audit entries
audit_verify    yes      no           yes      no      verify the audit chain
rotate_dek      yes      no           no       no      new DEK for one tenant, re-seal its tokens
rotate_kek      yes      no           no       no      rewrap every DEK under the primary KEK
remove_kek      yes      no           no       no      forget an old KEK nothing references
==============  =======  ===========  =======  ======  ==============================================

Tenant scope: a ``service`` actor must name its tenants and is refused anywhere else. Any other role
may also be scoped (``tenants=frozenset({...})``); a scoped actor is refused the vault-wide operations
(``audit_read``, ``audit_verify``, ``rotate_kek``, ``remove_kek``), and ``list`` / ``stats`` without a
tenant cover only its own tenants.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import Enum

from vault.errors import AccessDenied

__all__ = ["GLOBAL_OPS", "PERMISSIONS", "Actor", "Op", "Role", "allows", "authorize", "denial_reason"]


class Role(str, Enum):
    ADMIN = "admin"
    SERVICE = "service"
    AUDITOR = "auditor"
    VIEWER = "viewer"


class Op(str, Enum):
    PUT = "put"
    GET = "get"
    LIST = "list"
    REVOKE = "revoke"
    REFRESH = "refresh"
    STATS = "stats"
    AUDIT_READ = "audit_read"
    AUDIT_VERIFY = "audit_verify"
    ROTATE_DEK = "rotate_dek"
    ROTATE_KEK = "rotate_kek"
    REMOVE_KEK = "remove_kek"


_A, _S, _U, _V = Role.ADMIN, Role.SERVICE, Role.AUDITOR, Role.VIEWER

PERMISSIONS: Mapping[Op, frozenset[Role]] = {
    Op.PUT: frozenset({_A, _S}),
    Op.GET: frozenset({_A, _S}),
    Op.LIST: frozenset({_A, _S, _U, _V}),
    Op.REVOKE: frozenset({_A, _S}),
    Op.REFRESH: frozenset({_A, _S}),
    Op.STATS: frozenset({_A, _U, _V}),
    Op.AUDIT_READ: frozenset({_A, _U}),
    Op.AUDIT_VERIFY: frozenset({_A, _U}),
    Op.ROTATE_DEK: frozenset({_A}),
    Op.ROTATE_KEK: frozenset({_A}),
    Op.REMOVE_KEK: frozenset({_A}),
}
"""The matrix in the module docstring, as data. ``docs/vault.md`` draws the same table (tested)."""

GLOBAL_OPS: frozenset[Op] = frozenset({Op.AUDIT_READ, Op.AUDIT_VERIFY, Op.ROTATE_KEK, Op.REMOVE_KEK})
"""Operations on the whole vault: they take no tenant and need an actor not scoped to tenants."""


@dataclass(frozen=True)
class Actor:
    """Who is calling: a name for the audit log, a role, and (``service`` always) the tenants it may touch.

    >>> Actor("billing-sync", Role.SERVICE, frozenset({"acme"}))
    Actor(name='billing-sync', role=<Role.SERVICE: 'service'>, tenants=frozenset({'acme'}))
    """

    name: str
    role: Role
    tenants: frozenset[str] | None = None
    """``None``: every tenant (not allowed for ``service``)."""

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("an actor needs a name: it is written to the audit log")
        object.__setattr__(self, "role", Role(self.role))
        if self.tenants is not None and not isinstance(self.tenants, frozenset):
            object.__setattr__(self, "tenants", frozenset(_as_iterable(self.tenants)))
        if self.role is Role.SERVICE and not self.tenants:
            raise ValueError(
                f"service actor {self.name!r} must be scoped to its tenants: pass tenants=frozenset({{...}})"
            )

    def in_scope(self, tenant: str) -> bool:
        return self.tenants is None or tenant in self.tenants


def _as_iterable(value: Iterable[str]) -> Iterable[str]:
    if isinstance(value, str):
        return (value,)
    return value


def denial_reason(actor: Actor, op: Op, tenant: str | None = None) -> str | None:
    """Why ``actor`` may not do ``op`` on ``tenant``, or ``None`` when it may."""
    op = Op(op)
    if actor.role not in PERMISSIONS[op]:
        return f"role {actor.role.value} may not {op.value}"
    if op in GLOBAL_OPS and actor.tenants is not None:
        return f"{op.value} covers the whole vault; actor {actor.name!r} is scoped to tenants"
    if tenant is not None and not actor.in_scope(tenant):
        return f"actor {actor.name!r} is scoped to tenants {', '.join(sorted(actor.tenants or ()))}, not {tenant!r}"
    return None


def allows(actor: Actor, op: Op, tenant: str | None = None) -> bool:
    """Whether ``actor`` may do ``op`` (on ``tenant``, for tenant operations)."""
    return denial_reason(actor, op, tenant) is None


def authorize(actor: Actor, op: Op, tenant: str | None = None) -> None:
    """Raise :class:`AccessDenied` unless ``actor`` may do ``op`` on ``tenant``. Does not audit: the vault does.

    ``Vault.authorize`` is the audited form; use it outside the vault's own methods (the refresher, the CLI).
    """
    reason = denial_reason(actor, op, tenant)
    if reason is not None:
        raise AccessDenied(f"access denied: {reason}")
