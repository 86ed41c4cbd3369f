"""The RBAC matrix, the whole of it: every operation x role x own/other tenant, on SQLite and PostgreSQL.

Allowed calls must succeed and be audited ``ok``; denied calls must raise AccessDenied and leave exactly one
``denied`` audit entry naming the actor, the operation and the tenant.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from checks.core.clock import FixedClock
from tests.conftest import PG_URL, require_pg
from vault import AccessDenied, Actor, Op, Role, StaticKeySource, Vault, rbac
from vault.crypto import kek_fingerprint

ROOT = Path(__file__).resolve().parents[2]
OLD_KEK = bytes(range(32))
NEW_KEK = bytes(range(50, 82))
OWN, OTHER = "acme", "globex"
ADMIN = Actor("ada", Role.ADMIN)
ACTORS = {
    "admin": ADMIN,
    "service": Actor("billing-sync", Role.SERVICE, frozenset({OWN})),
    "auditor": Actor("aud", Role.AUDITOR),
    "viewer": Actor("vic", Role.VIEWER),
}

# The documented matrix, written out again here on purpose: the tests check the code against it.
MATRIX = """
operation      admin  service      auditor  viewer
put            yes    own tenants  no       no
get            yes    own tenants  no       no
list           yes    own tenants  yes      yes
revoke         yes    own tenants  no       no
refresh        yes    own tenants  no       no
stats          yes    no           yes      yes
audit_read     yes    no           yes      no
audit_verify   yes    no           yes      no
rotate_dek     yes    no           no       no
rotate_kek     yes    no           no       no
remove_kek     yes    no           no       no
"""


def _parse(text: str) -> dict[str, dict[str, str]]:
    table = {}
    for line in text.strip().splitlines()[1:]:
        op, *cells = re.split(r"\s{2,}", line.strip())
        table[op] = dict(zip(["admin", "service", "auditor", "viewer"], cells, strict=True))
    return table


EXPECTED = _parse(MATRIX)
TENANT_OPS = ["put", "get", "list", "revoke", "refresh", "stats", "rotate_dek"]
VAULT_OPS = ["audit_read", "audit_verify", "rotate_kek", "remove_kek"]


def allowed(op: str, role: str, scope: str) -> bool:
    cell = EXPECTED[op][role]
    return cell == "yes" or (cell == "own tenants" and scope == "own")


# ----------------------------------------------------------------------------------- one vault per database


@dataclass
class World:
    vault: Vault
    engine: sa.Engine
    mark: int = 0
    """The last audit seq before the call under test."""

    def last_seq(self) -> int:
        with self.engine.connect() as conn:
            return conn.execute(sa.text("select coalesce(max(seq), 0) from audit_events")).scalar_one()

    def events_after(self, seq: int) -> list[sa.Row]:
        with self.engine.connect() as conn:
            return conn.execute(
                sa.text(
                    "select seq, actor, role, op, tenant, target, outcome from audit_events where seq > :s order by seq"
                ),
                {"s": seq},
            ).all()

    def credential(self, tenant: str) -> str:
        return self.vault.put(ADMIN, tenant, "google", f"acct-{uuid.uuid4().hex[:8]}", "ya29.matrix-token")


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def world(request, tmp_path_factory):
    """One vault per database for the whole matrix: OLD_KEK rotated out, so remove_kek has work to allow."""
    schema = None
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('rbac') / 'vault.db'}"
    else:
        require_pg()
        schema = f"t_{uuid.uuid4().hex[:12]}"
        with sa.create_engine(PG_URL).begin() as conn:
            conn.execute(sa.text(f'create schema "{schema}"'))
        url = f"{PG_URL}{'&' if '?' in PG_URL else '?'}options=-csearch_path%3D{schema}"
    clock = FixedClock(datetime(2025, 10, 6, 9, 0, tzinfo=UTC))
    Vault.init(url, StaticKeySource(OLD_KEK), clock).close()
    v = Vault.open(url, StaticKeySource(NEW_KEK, OLD_KEK), clock)
    v.rotate_kek(ADMIN)
    for tenant in (OWN, OTHER):
        v.put(ADMIN, tenant, "google", "seed", "ya29.seed-token")
    engine = sa.create_engine(url)
    yield World(v, engine)
    v.close()
    engine.dispose()
    if schema:
        with sa.create_engine(PG_URL).begin() as conn:
            conn.execute(sa.text(f'drop schema if exists "{schema}" cascade'))


# ---------------------------------------------------------------------------------------- the operations


def _call(world: World, op: str, actor: Actor, tenant: str | None) -> None:
    """Set up what the operation needs (as admin), then make the call as ``actor``."""
    v = world.vault
    if op == "put":
        v.put(actor, tenant, "google", f"acct-{uuid.uuid4().hex[:8]}", "ya29.matrix-token")
    elif op == "get":
        cid = world.credential(tenant)
        world.mark = world.last_seq()
        v.get(actor, tenant, cid).wipe()
    elif op == "list":
        v.list(actor, tenant)
    elif op == "revoke":
        cid = world.credential(tenant)
        world.mark = world.last_seq()
        v.revoke(actor, tenant, cid)
    elif op == "refresh":
        v.authorize(actor, Op.REFRESH, tenant, "credential-1")
    elif op == "stats":
        v.stats(actor, tenant)
    elif op == "rotate_dek":
        v.rotate_dek(actor, tenant)
    elif op == "audit_read":
        v.audit_events(actor, limit=5)
    elif op == "audit_verify":
        assert v.verify_audit(actor).ok
    elif op == "rotate_kek":
        v.rotate_kek(actor)
    elif op == "remove_kek":
        v.remove_kek(actor, kek_fingerprint(OLD_KEK))
    else:  # pragma: no cover
        raise AssertionError(op)


def _verdict(op: str, role: str, scope: str) -> str:
    return "allowed" if allowed(op, role, scope) else "denied"


CASES = [
    pytest.param(op, role, scope, id=f"{op}-{role}-{scope}-tenant-{_verdict(op, role, scope)}")
    for op in TENANT_OPS
    for role in ACTORS
    for scope in ("own", "other")
] + [
    pytest.param(op, role, "vault", id=f"{op}-{role}-{_verdict(op, role, 'vault')}")
    for op in VAULT_OPS
    for role in ACTORS
]


@pytest.mark.parametrize(("op", "role", "scope"), CASES)
def test_matrix(world, op, role, scope):
    actor = ACTORS[role]
    tenant = {"own": OWN, "other": OTHER, "vault": None}[scope]
    world.mark = world.last_seq()
    if allowed(op, role, scope):
        _call(world, op, actor, tenant)
        events = world.events_after(world.mark)
        assert not [e for e in events if e.outcome != "ok"], events
        if op != "refresh":  # an allowed permission check writes nothing; the refresher's write is audited
            assert any(e.op == op and e.actor == actor.name for e in events), events
    else:
        with pytest.raises(AccessDenied, match="access denied"):
            _call(world, op, actor, tenant)
        events = world.events_after(world.mark)
        assert len(events) == 1, events
        denied = events[0]
        assert (denied.outcome, denied.op, denied.actor, denied.role, denied.tenant) == (
            "denied",
            op,
            actor.name,
            actor.role.value,
            tenant,
        )


def test_every_operation_is_in_the_matrix():
    assert set(EXPECTED) == {op.value for op in Op} == set(TENANT_OPS) | set(VAULT_OPS)
    assert {op.value for op in rbac.GLOBAL_OPS} == set(VAULT_OPS)


def test_the_code_agrees_with_the_matrix():
    for op, cells in EXPECTED.items():
        for role, cell in cells.items():
            assert (Role(role) in rbac.PERMISSIONS[Op(op)]) == (cell != "no"), (op, role)
    assert {r for op, roles in rbac.PERMISSIONS.items() for r in roles if op in rbac.GLOBAL_OPS} <= {
        Role.ADMIN,
        Role.AUDITOR,
    }


def _doc_table(text: str) -> dict[str, dict[str, str]]:
    rows = {}
    for line in text.splitlines():
        cells = [c.strip().strip("`") for c in line.strip().strip("|").split("|")] if line.startswith("|") else []
        if not cells:
            cells = re.split(r"\s{2,}", line.strip())
        if cells and cells[0] in EXPECTED and len(cells) >= 5:
            rows[cells[0]] = dict(zip(["admin", "service", "auditor", "viewer"], cells[1:5], strict=True))
    return rows


def test_the_module_docstring_draws_the_same_matrix():
    assert _doc_table(rbac.__doc__ or "") == EXPECTED


def test_docs_vault_md_draws_the_same_matrix():
    assert _doc_table((ROOT / "docs" / "vault.md").read_text()) == EXPECTED


def test_a_service_actor_must_be_scoped():
    with pytest.raises(ValueError, match="must be scoped"):
        Actor("svc", Role.SERVICE)
    assert Actor("svc", "service", {"acme"}).tenants == frozenset({"acme"})  # coerced
    with pytest.raises(ValueError):
        Actor("", Role.ADMIN)


def test_a_scoped_admin_is_refused_vault_wide_operations(world):
    scoped = Actor("ada-acme", Role.ADMIN, frozenset({OWN}))
    for call in (
        lambda: world.vault.rotate_kek(scoped),
        lambda: world.vault.verify_audit(scoped),
        lambda: world.vault.audit_events(scoped),
    ):
        mark = world.last_seq()
        with pytest.raises(AccessDenied, match="covers the whole vault"):
            call()
        assert [e.outcome for e in world.events_after(mark)] == ["denied"]
    with pytest.raises(AccessDenied):
        world.vault.get(scoped, OTHER, "x")
    world.vault.list(scoped, OWN)


def test_list_and_stats_without_a_tenant_cover_only_a_scoped_actors_tenants(world):
    service = ACTORS["service"]
    assert {c.tenant for c in world.vault.list(service)} == {OWN}
    assert {c.tenant for c in world.vault.list(ADMIN)} >= {OWN, OTHER}
    viewer_acme = Actor("vic-acme", Role.VIEWER, frozenset({OWN}))
    assert world.vault.stats(viewer_acme).tenants == 1


def test_allows_and_authorize_without_a_vault():
    service = ACTORS["service"]
    assert rbac.allows(service, Op.GET, OWN) and not rbac.allows(service, Op.GET, OTHER)
    assert not rbac.allows(ACTORS["viewer"], Op.GET)
    with pytest.raises(AccessDenied, match="role viewer may not get"):
        rbac.authorize(ACTORS["viewer"], Op.GET, OWN)


def test_authorize_refuses_a_service_outside_its_tenants():
    """The refresher and the CLI call ``authorize`` directly: the tenant scope must hold there too."""
    service = Actor("billing-sync", Role.SERVICE, frozenset({OWN, "initech"}))
    rbac.authorize(service, Op.GET, OWN)
    with pytest.raises(AccessDenied) as info:
        rbac.authorize(service, Op.REFRESH, OTHER)
    assert str(info.value) == "access denied: actor 'billing-sync' is scoped to tenants acme, initech, not 'globex'"


@pytest.mark.parametrize("tenants", ["acme", ["acme"], {"acme"}, ("acme",)], ids=["str", "list", "set", "tuple"])
def test_an_actors_tenants_are_frozen_whole_names(tenants):
    """A tenant given as one string is one tenant, not its letters: ``acm`` is not in scope of ``acme``."""
    service = Actor("svc", "service", tenants)
    assert service.tenants == frozenset({"acme"}) and type(service.tenants) is frozenset
    assert rbac.allows(service, Op.GET, "acme")
    for near in ("acm", "a", "cme", "me"):
        assert not rbac.allows(service, Op.GET, near), near


def test_roles_given_as_strings_are_roles():
    """Config and the CLI pass roles as text: they must mean the same as the enum, scoping rule included."""
    assert Actor("ada", "admin").role is Role.ADMIN
    with pytest.raises(ValueError, match="must be scoped"):
        Actor("svc", "service")
    with pytest.raises(AccessDenied) as info:
        rbac.authorize(Actor("vic", "viewer"), Op.GET, OWN)
    assert str(info.value) == "access denied: role viewer may not get"
    with pytest.raises(ValueError):
        Actor("root", "superuser")


def test_an_actor_without_a_name_is_refused_with_the_reason():
    with pytest.raises(ValueError) as info:
        Actor("", Role.ADMIN)
    assert str(info.value) == "an actor needs a name: it is written to the audit log"
