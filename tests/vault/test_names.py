"""Tenant, provider and account names (``vault.names``): one rule for the library, the CLI and the service, checked
before the database sees a name, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vault import Actor, Role, VaultError
from vault.names import NAME_LIMITS, check_name, check_names

ADMIN = Actor("ada", Role.ADMIN)
TOKEN = "ya29.a0names-access-token"

BAD = {
    "empty": ("", "non-empty"),
    "blank": ("  \t", "non-empty"),
    "nul": ("acme\x00", "control characters"),
    "newline": ("acme\nFORGED audit line", "control characters"),
    "escape": ("acme\x1b[31m", "control characters"),
    "c1 control": ("acme\x85", "control characters"),
    "lone surrogate": ("acme\ud800", "control characters"),
    "too long": ("a" * 201, "longer than 200"),
}


def test_the_limits_are_the_columns_widths():
    assert NAME_LIMITS == {"tenant": 200, "provider": 100, "account": 320}


@pytest.mark.parametrize(("value", "why"), BAD.values(), ids=BAD.keys())
def test_a_bad_tenant_is_refused_with_why_and_without_itself(value, why):
    with pytest.raises(VaultError, match=why) as refused:
        check_name(value, "tenant")
    assert value.strip() == "" or value not in str(refused.value)


@pytest.mark.parametrize("value", ["acme", "Ops Team", "ops+wizard@acme.test", "Zürich-GmbH", "東京", "a" * 200])
def test_names_people_type_are_kept_as_they_are(value):
    assert check_name(value, "tenant") == value


def test_a_name_left_out_is_refused_unless_only_the_given_ones_are_checked():
    """put and get name all three (None is no name); a listing's filters may be left out."""
    with pytest.raises(VaultError, match="provider must be a non-empty string"):
        check_names(tenant="acme", provider=None, account="ops@acme.test")
    check_names(tenant="acme", provider=None, given_only=True)
    with pytest.raises(VaultError, match="tenant must not contain control characters"):
        check_names(tenant="acme\x00", provider=None, given_only=True)


@given(st.text(alphabet=st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=320))
def test_any_printable_account_up_to_its_width_is_valid_unless_blank(value):
    if value.strip():
        assert check_name(value, "account") == value
    else:
        with pytest.raises(VaultError, match="non-empty"):
            check_name(value, "account")


@pytest.mark.parametrize(("value", "why"), [BAD["nul"], BAD["newline"], ("x" * 321, "longer than 320")])
def test_the_store_refuses_a_bad_account_before_the_database_sees_it(vault_, value, why):
    """On PostgreSQL a NUL or an over-long account used to reach the database and come back as its refusal."""
    cid = vault_.put(ADMIN, "acme", "google", "ops@acme.test", TOKEN)
    before = [e.op for e in vault_.audit_events(ADMIN, 1000)]
    with pytest.raises(VaultError, match=why):
        vault_.put(ADMIN, "acme", "google", value, TOKEN)
    with pytest.raises(VaultError, match=why):
        vault_._get_account(ADMIN, "acme", "google", value, lambda row: True)
    with pytest.raises(VaultError, match="control characters"):
        vault_.list(ADMIN, "acme\x00")
    with pytest.raises(VaultError, match="control characters"):
        vault_.get(ADMIN, "acme\x00", cid)
    with pytest.raises(VaultError, match="control characters"):
        vault_.revoke(ADMIN, "acme\x00", cid)
    after = [e.op for e in vault_.audit_events(ADMIN, 1000)]
    assert after == ["audit_read", *before]  # refused before any transaction: only the audit read in between
    assert [i.account for i in vault_.list(ADMIN, "acme")] == ["ops@acme.test"]
    assert vault_.get(ADMIN, "acme", cid).access_token.reveal() == TOKEN
