"""Service identities (vault.service_tokens): the vault service's callers, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta

import pytest
import sqlalchemy as sa

from vault import AccessDenied, Actor, Role, VaultError
from vault.redact import scrub_text as scrub
from vault.service_tokens import PREFIX, ServiceTokens, Unauthenticated

ADMIN = Actor("ada", Role.ADMIN)


@pytest.fixture
def tokens(vault_):
    return ServiceTokens(vault_)


def _issue(tokens, name="wizard", role=Role.SERVICE, **kw):
    kw.setdefault("tenants", ["acme"])
    issued = tokens.create(ADMIN, name, role, **kw)
    return issued.identity, issued.token.reveal()


def test_a_token_is_shown_once_and_stored_only_as_its_hash(tokens, raw):
    identity, token = _issue(tokens, providers=["google"])
    assert token.startswith(PREFIX) and len(token) == len(PREFIX) + 43
    with raw.connect() as conn:
        row = conn.execute(sa.text("SELECT * FROM service_tokens")).mappings().one()
        dump = " ".join(str(v) for r in conn.execute(sa.text("SELECT * FROM audit_events")) for v in r)
    assert row["token_hash"] == hashlib.sha256(token.encode()).hexdigest()
    assert token not in " ".join(str(v) for v in row.values()) and token not in dump
    as_list = [json.loads(v) if isinstance(v, str) else v for v in (row["tenants"], row["providers"])]
    assert (row["role"], *as_list) == ("service", ["acme"], ["google"])
    assert "token" not in repr(identity).lower().replace("token_", "")


def test_authenticate_maps_the_token_to_its_actor(tokens):
    identity, token = _issue(tokens, tenants=["acme", "globex"], providers=["google", "microsoft"])
    found = tokens.authenticate(token)
    assert found.id == identity.id
    assert found.actor == Actor("svc:wizard", Role.SERVICE, frozenset({"acme", "globex"}))
    assert found.allows_provider("google") and not found.allows_provider("ghl")


@pytest.mark.parametrize(
    "presented, code",
    [
        (None, "missing"),
        ("", "missing"),
        ("Bearer-ish", "unknown"),
        (PREFIX + "x" * 43, "unknown"),
    ],
)
def test_unusable_tokens_are_refused_with_a_stable_code(tokens, presented, code):
    _issue(tokens)
    with pytest.raises(Unauthenticated) as caught:
        tokens.authenticate(presented)
    assert caught.value.code == code


def test_an_expired_token_is_refused(tokens, clock):
    _, token = _issue(tokens, expires_in=timedelta(hours=1))
    assert tokens.authenticate(token).name == "wizard"
    clock.advance(timedelta(hours=1))
    with pytest.raises(Unauthenticated) as caught:
        tokens.authenticate(token)
    assert caught.value.code == "expired" and token not in str(caught.value)


def test_revocation_by_name_or_id_is_immediate_idempotent_and_audited(tokens, vault_):
    identity, token = _issue(tokens)
    tokens.revoke(ADMIN, "wizard")
    with pytest.raises(Unauthenticated) as caught:
        tokens.authenticate(token)
    assert caught.value.code == "revoked"
    assert tokens.revoke(ADMIN, identity.id).revoked_at is not None
    ops = [(e.op, e.detail.get("already")) for e in vault_.audit_events(ADMIN, 10)]
    assert ("service_token_revoke", True) in ops and ("service_token_revoke", False) in ops
    assert ("service_token_create", None) in ops
    assert vault_.verify_audit(ADMIN).ok


@pytest.mark.parametrize(
    "actor",
    [
        Actor("sync", Role.SERVICE, frozenset({"acme"})),
        Actor("aud", Role.AUDITOR),
        Actor("vic", Role.VIEWER),
        Actor("scoped", Role.ADMIN, frozenset({"acme"})),
    ],
    ids=["service", "auditor", "viewer", "scoped-admin"],
)
def test_only_an_unscoped_admin_manages_identities_and_denials_are_audited(tokens, vault_, actor):
    for call in (
        lambda: tokens.create(actor, "x", Role.VIEWER),
        lambda: tokens.list(actor),
        lambda: tokens.revoke(actor, "x"),
    ):
        with pytest.raises(AccessDenied):
            call()
    denied = [e for e in vault_.audit_events(ADMIN, 10) if e.outcome == "denied"]
    assert {e.op for e in denied} == {"service_token_create", "service_token_list", "service_token_revoke"}
    assert all(e.actor == actor.name for e in denied)


def test_a_service_identity_must_name_its_tenants_and_names_are_unique(tokens):
    with pytest.raises(VaultError, match="scoped to its tenants"):
        tokens.create(ADMIN, "loose", Role.SERVICE)
    with pytest.raises(VaultError, match="empty"):
        tokens.create(ADMIN, "loose", Role.SERVICE, tenants=[])
    _issue(tokens)
    with pytest.raises(VaultError, match="exists"):
        _issue(tokens)
    with pytest.raises(VaultError, match="name"):
        tokens.create(ADMIN, "bad name; drop", Role.VIEWER)
    assert tokens.create(ADMIN, "dash", Role.VIEWER).identity.tenants is None


def test_list_shows_state_and_never_the_hash(tokens, clock):
    _issue(tokens, "a", expires_in=timedelta(minutes=5))
    _issue(tokens, "b")
    tokens.revoke(ADMIN, "b")
    clock.advance(timedelta(minutes=10))
    states = {i.name: i.as_dict(clock.now())["state"] for i in tokens.list(ADMIN)}
    assert states == {"a": "expired", "b": "revoked"}
    assert all("hash" not in key for i in tokens.list(ADMIN) for key in i.as_dict(clock.now()))


def test_last_use_is_recorded_at_most_once_a_minute(tokens, clock):
    identity, token = _issue(tokens)
    first = tokens.authenticate(token)
    assert first.last_used_at is None
    seen = tokens.authenticate(token).last_used_at
    assert seen == clock.now()
    clock.advance(timedelta(seconds=30))
    tokens.authenticate(token)
    assert tokens.authenticate(token).last_used_at == seen
    clock.advance(timedelta(seconds=31))
    tokens.authenticate(token)
    assert tokens.authenticate(token).last_used_at == clock.now()


def test_a_token_is_checked_apart_from_the_group_commit_it_runs_in(tokens, vault_, raw):
    """On PostgreSQL the service checks tokens inside its group commits: the lookup runs on a connection of its own
    (a failed lookup fails one request, not the group) and, on SQLite, does not wait for the group's write lock."""
    _, token = _issue(tokens)
    tokens.authenticate(token)  # its last use recorded now: nothing below writes
    cid = vault_.put(ADMIN, "acme", "google", "a@acme.test", "ya29.a", "1//a")
    if vault_.engine.dialect.name == "sqlite":  # a connection waiting for the group's lock: 50 ms, not 10 s
        sa.event.listen(vault_.engine, "connect", lambda dbapi, _: dbapi.execute("PRAGMA busy_timeout=50"))
        vault_.engine.dispose()
    with vault_._group():  # holds SQLite's write lock from here to its commit
        found = tokens.authenticate(token)
        vault_.get(found.actor, "acme", cid).wipe()
    with raw.connect() as conn:
        gets = conn.execute(sa.text("SELECT actor, outcome FROM audit_events WHERE op = 'get'")).all()
    assert [tuple(g) for g in gets] == [("svc:wizard", "ok")]


def test_the_scrubber_masks_a_leaked_service_token(tokens):
    _, token = _issue(tokens)
    from vault import redact

    redact.forget_all()  # not taught: the token's shape alone gives it away
    assert token not in scrub(f"calling with {token} failed")


def test_the_cli_prints_the_token_once_lists_without_it_and_revokes(tmp_path):
    from tests.vault.test_vault_cli import Cli

    cli = Cli(tmp_path)
    cli.ok("init")
    made = cli.ok("service-token", "create", "wizard", "--tenant", "acme", "--provider", "google", "--as", "ada:admin")
    token = made.stdout.strip()
    assert token.startswith(PREFIX) and "shown once" in made.stderr
    listed = cli.ok("service-token", "list", "--format", "json", "--as", "ada:admin")
    assert token not in listed.stdout and '"state": "active"' in listed.stdout
    denied = cli("service-token", "list", "--as", "vic:viewer")
    assert denied.returncode == 2 and "only an unscoped admin" in denied.stderr and "Traceback" not in denied.stderr
    cli.ok("service-token", "revoke", "wizard", "--as", "ada:admin")
    assert '"state": "revoked"' in cli.ok("service-token", "list", "--format", "json", "--as", "ada:admin").stdout
    assert token not in cli.db_bytes().decode("latin-1")
