"""The STORY-ONB-05 manifest reproduces the seed assessment, and a bad manifest is refused with the file
and the field path named."""

from __future__ import annotations

import copy
import json
import tomllib
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from checks.core.errors import ManifestError
from checks.core.manifest import Duration, Manifest
from checks.core.manifest_load import default_manifest_path, load_manifest, parse_manifest
from checks.core.status import Severity

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = ROOT / "readiness.toml"

# The seed's "Required Environment Variables" block (lines 98-118): name, group, placeholder.
SEED_ENV = [
    ("GOOGLE_OAUTH_CLIENT_ID", "OAuth Configuration", "<from_google_console>"),
    ("GOOGLE_OAUTH_CLIENT_SECRET", "OAuth Configuration", "<from_google_console>"),
    ("MICROSOFT_OAUTH_CLIENT_ID", "OAuth Configuration", "<from_azure_portal>"),
    ("MICROSOFT_OAUTH_CLIENT_SECRET", "OAuth Configuration", "<from_azure_portal>"),
    ("RETELL_API_KEY", "Provider API Keys (Development)", "<sandbox_key>"),
    ("TWILIO_ACCOUNT_SID", "Provider API Keys (Development)", "<sandbox_sid>"),
    ("TWILIO_AUTH_TOKEN", "Provider API Keys (Development)", "<sandbox_token>"),
    ("TOKEN_VAULT_URL", "Token Vault Service", "<vault_service_endpoint>"),
    ("TOKEN_VAULT_ENCRYPTION_KEY", "Token Vault Service", "<encryption_key>"),
    ("GHL_PROXY_URL", "GHL Proxy Configuration", "<existing_proxy_endpoint>"),
    ("GHL_PROXY_API_KEY", "GHL Proxy Configuration", "<proxy_api_key>"),
]

WEEK1 = [
    "Google OAuth application created and submitted for verification",
    "Microsoft OAuth application created and configured",
    "Token vault architecture designed and approved by security team",
    "Provider sandbox accounts requested and setup initiated",
]
WEEK2 = [
    "OAuth applications approved and tested in development",
    "Token vault service implemented and tested",
    "Provider sandbox accounts operational with test data",
    "Development team unblocked and actively working on issues #65, #66",
]


@pytest.fixture(scope="module")
def manifest() -> Manifest:
    return load_manifest(MANIFEST)


@pytest.fixture(scope="module")
def data() -> dict[str, Any]:
    return tomllib.loads(MANIFEST.read_text(encoding="utf-8"))


# --- a tiny TOML writer: every top-level key as one line of inline values ---------------------------


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, date):
        return v.isoformat()
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, list):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {_value(x)}" for k, x in v.items()) + "}"
    raise TypeError(type(v))


def dump(doc: dict[str, Any]) -> str:
    return "".join(f"{json.dumps(k)} = {_value(v)}\n" for k, v in doc.items())


def problems_of(data: dict[str, Any], change: Callable[[dict[str, Any]], Any]) -> ManifestError:
    doc = copy.deepcopy(data)
    change(doc)
    with pytest.raises(ManifestError) as info:
        parse_manifest(dump(doc), source="bad.toml")
    err = info.value
    assert err.path == "bad.toml"
    assert str(err).startswith("bad.toml: invalid manifest")
    return err


def fields(err: ManifestError) -> dict[str, str]:
    return dict(err.problems)


# --- the default manifest -----------------------------------------------------------------------------


def test_dump_round_trips_the_default_manifest(data, manifest):
    again = parse_manifest(dump(data), source="copy.toml")
    assert again.model_dump() == manifest.model_dump()
    assert again.source == "copy.toml"


def test_default_manifest_is_the_shipped_symlink(monkeypatch, tmp_path, manifest):
    shipped = ROOT / "checks" / "default_manifest.toml"
    assert shipped.is_symlink()
    assert shipped.resolve() == MANIFEST.resolve()
    monkeypatch.chdir(tmp_path)  # no ./readiness.toml here, READINESS_MANIFEST stripped by conftest
    path = default_manifest_path()
    assert path.name == "default_manifest.toml"
    assert load_manifest(path).digest == manifest.digest
    assert load_manifest().digest == manifest.digest


def test_release(manifest):
    r = manifest.release
    assert (r.story, r.title) == ("STORY-ONB-05", "Portal Connect Accounts Wizard")
    assert r.issue_url == "https://github.com/raming/max-ai-platform/issues/19"
    assert r.release_manager == "release_manager.rohan-patel"
    assert r.assessment_date == date(2025, 10, 6)
    assert r.seed_status == "CRITICAL - BLOCKING DEVELOPMENT"
    assert r.summary.startswith("All infrastructure prerequisites for Connect Accounts Wizard are currently missing")
    assert r.summary.endswith("blocking both frontend and backend development teams.")
    assert (r.next_review, r.next_review_title) == (date(2025, 10, 11), "Infrastructure status checkpoint")
    assert r.decision_point == date(2025, 10, 13)
    assert r.decision_text == "Go/No-go for development team work beginning Week 2"
    assert manifest.digest.startswith("sha256:")


def test_areas(manifest):
    areas = manifest.areas_by_id
    assert list(areas) == ["oauth", "vault", "sandboxes", "environment"]
    assert areas["oauth"].timeline == Duration(min=5, max=10, unit="business_days")
    assert areas["vault"].timeline == Duration(min=2, max=3, unit="weeks")
    assert areas["sandboxes"].timeline == Duration(min=1, max=2, unit="weeks")
    assert areas["sandboxes"].priority == "medium"
    assert areas["environment"].seed_status == "partial"
    assert areas["oauth"].impact == "Blocks development work on issues #65 and #66"


@pytest.mark.parametrize(("name", "group", "placeholder"), SEED_ENV, ids=[n for n, _, _ in SEED_ENV])
def test_every_seed_variable_is_declared(manifest, name, group, placeholder):
    var = manifest.env_var(name)
    assert var is not None, f"{name} from the seed is missing from [[env]]"
    assert (var.group, var.seed_placeholder, var.item) == (group, placeholder, "environment.variables")
    assert f"env.{name}" in manifest.checks_by_id


def test_design_adds_two_required_variables(manifest):
    assert manifest.env_var("MICROSOFT_TENANT_ID").type == "microsoft_tenant_id"
    assert manifest.env_var("GHL_TEST_LOCATION_IDS").type == "id_list"
    required = [v for v in manifest.env if v.required]
    assert len(required) == len(SEED_ENV) + 2
    # anything else is optional: it can never turn the verdict red
    assert all(manifest.checks_by_id[f"env.{v.name}"].severity.value == "minor" for v in manifest.env if not v.required)


def test_secrets_are_marked(manifest):
    secret = set(manifest.iter_secret_env())
    assert {
        "GOOGLE_OAUTH_CLIENT_SECRET",
        "MICROSOFT_OAUTH_CLIENT_SECRET",
        "TWILIO_AUTH_TOKEN",
        "RETELL_API_KEY",
        "TOKEN_VAULT_ENCRYPTION_KEY",
        "GHL_PROXY_API_KEY",
    } <= secret
    assert "GOOGLE_OAUTH_CLIENT_ID" not in secret
    assert "TOKEN_VAULT_URL" not in secret


def test_google_redirect_uris_by_environment(manifest):
    uris = {r.environment: r.uri for r in manifest.oauth_apps["google"].redirect_uris}
    assert uris == {
        "dev": "https://dev.maxai-platform.com/api/auth/oauth/google/callback",
        "staging": "https://staging.maxai-platform.com/api/auth/oauth/google/callback",
        "app": "https://app.maxai-platform.com/api/auth/oauth/google/callback",
    }


def test_microsoft_redirect_uris_follow_googles_pattern(manifest):
    uris = {r.environment: r.uri for r in manifest.oauth_apps["microsoft"].redirect_uris}
    assert uris == {
        env: f"https://{env}.maxai-platform.com/api/auth/oauth/microsoft/callback" for env in ("dev", "staging", "app")
    }


def test_scopes_are_the_seeds_verbatim(manifest):
    assert manifest.oauth_apps["google"].scopes == [
        "https://www.googleapis.com/auth/calendar.readonly",
        "https://www.googleapis.com/auth/calendar.events",
        "https://www.googleapis.com/auth/business.manage",
    ]
    assert manifest.oauth_apps["microsoft"].scopes == [
        "https://graph.microsoft.com/calendars.readwrite",
        "https://graph.microsoft.com/mail.read",
        "https://graph.microsoft.com/offline_access",
    ]


def test_oauth_apps(manifest):
    google, microsoft = manifest.oauth_apps["google"], manifest.oauth_apps["microsoft"]
    assert google.apis == ["Google Calendar API", "Google Business Profile API"]
    assert (google.client_id_env, google.client_secret_env) == (
        "GOOGLE_OAUTH_CLIENT_ID",
        "GOOGLE_OAUTH_CLIENT_SECRET",
    )
    assert google.setup_location == "Google Cloud Console"
    assert microsoft.apis == ["Microsoft Graph API"]
    assert microsoft.tenant_id_env == "MICROSOFT_TENANT_ID"
    assert microsoft.setup_location == "Azure App Registrations"
    ghl = manifest.ghl_proxy
    assert ghl is not None and ghl.item == "oauth.ghl"
    assert (ghl.url_env, ghl.api_key_env, ghl.location_ids_env) == (
        "GHL_PROXY_URL",
        "GHL_PROXY_API_KEY",
        "GHL_TEST_LOCATION_IDS",
    )


def test_durations(manifest):
    items = manifest.items_by_id
    assert items["oauth.google"].expected.text == "3-7 business days"
    assert manifest.oauth_apps["google"].approval_duration == Duration(min=3, max=7, unit="business_days")
    assert items["oauth.microsoft"].expected.text == "1-3 business days"
    assert items["vault.service"].expected.text == "2-3 weeks"
    for sb in manifest.sandboxes:
        assert items[sb.item].expected.text == "1-2 weeks"


def test_items_blocking_65_and_66(manifest):
    blocking = {i.id for i in manifest.items if {"#65", "#66"} <= set(i.blocks)}
    assert {"oauth.google", "oauth.microsoft", "oauth.ghl"} <= blocking
    assert "production deployment" in manifest.items_by_id["vault.service"].blocks
    assert manifest.items_by_id["vault.security_review"].owner == "security"


def test_contingencies_come_from_the_risk_analysis(manifest):
    google = manifest.items_by_id["oauth.google"]
    assert google.mitigation == "Submit application immediately with all required documentation"
    assert google.contingency == "Implement mock OAuth flows for initial development"
    assert manifest.items_by_id["vault.service"].contingency == "Start with simplified encryption, enhance iteratively"


def test_vault_requirements(manifest):
    reqs = manifest.vault.requirements
    by_cat = {c: [r.title for r in reqs if r.category == c] for c in ("core", "integration", "security")}
    assert by_cat["core"] == [
        "Encryption at Rest",
        "Tenant Isolation",
        "Automatic Refresh",
        "Access Auditing",
        "Rotation Policy",
    ]
    assert by_cat["integration"] == [
        "Secret Manager",
        "Database",
        "Background Jobs",
        "API Gateway",
        "Monitoring",
    ]
    assert by_cat["security"] == [
        "Zero Client Exposure",
        "Memory Safety",
        "Network Security",
        "Access Control",
    ]
    assert next(r for r in reqs if r.id == "encryption_at_rest").text == "AES-256 encryption for all stored tokens"


def test_sandboxes(manifest):
    assert [s.id for s in manifest.sandboxes] == [
        "google_workspace",
        "microsoft365",
        "retell",
        "twilio",
        "ghl",
    ]
    assert all(s.test_data and s.purpose for s in manifest.sandboxes)
    ghl = next(s for s in manifest.sandboxes if s.id == "ghl")
    assert "Sample contacts, appointments, workflows" in ghl.test_data[0]


def test_criteria_four_and_four_verbatim(manifest):
    assert [c.text for c in manifest.criteria if c.milestone == "week1"] == WEEK1
    assert [c.text for c in manifest.criteria if c.milestone == "week2"] == WEEK2
    for crit in manifest.criteria:
        assert manifest.match_checks(crit.checks), crit.text
    first = manifest.criteria[0]
    assert [c.id for c in manifest.match_checks(first.checks)] == ["oauth.google.submitted"]
    sandboxes = next(c for c in manifest.criteria if c.text == WEEK1[3])
    assert len(manifest.match_checks(sandboxes.checks)) == 5


def test_milestones(manifest):
    assert [(m.id, m.title, m.due) for m in manifest.milestones] == [
        ("week1", "Week 1 Completion", date(2025, 10, 11)),
        ("week2", "Week 2 Completion", date(2025, 10, 18)),
    ]


def test_escalations_with_contacts(manifest):
    esc = {e.id: e for e in manifest.escalations}
    assert len(esc) == 3
    oauth = esc["oauth_approval_delays"]
    assert (oauth.items, oauth.contact) == (["oauth.google", "oauth.microsoft"], "platform")
    assert (oauth.when.attested, oauth.when.older_than_days) == (["submitted"], 7)
    vault = esc["token_vault_design_conflicts"]
    assert (vault.items, vault.contact, vault.when.attested) == (
        ["vault.security_review"],
        "security",
        ["conflict"],
    )
    blocks = esc["provider_account_blocks"]
    assert blocks.contact == "platform" and blocks.when.attested == ["denied"]
    assert sorted(blocks.items) == sorted(s.item for s in manifest.sandboxes)
    for e in manifest.escalations:
        assert e.contact in manifest.contacts
    assert manifest.contacts["security"].scope == "Token vault architecture and compliance review"


def test_risks_and_actions(manifest):
    assert [r.category for r in manifest.risks] == ["critical_path"] * 3 + ["dependency"] * 2
    assert manifest.risks[3].impact == "Could delay entire M1 milestone delivery"
    assert manifest.risks[4].resolution == "Engage security team early in design phase"
    assert [a.milestone for a in manifest.actions] == ["week1"] * 3 + ["week2"] * 2
    assert manifest.actions[0].urgent
    assert manifest.actions[0].steps[0] == "Google Cloud Console: Create project, enable APIs, setup OAuth consent"
    assert manifest.actions[-1].steps[-1] == "Create provider API testing framework"
    assert sum(len(a.steps) for a in manifest.actions) == 15


def test_severities_follow_the_decision_point(manifest):
    sev = {c.id: c.severity for c in manifest.all_checks}
    for blocking in (
        "env.GOOGLE_OAUTH_CLIENT_ID",
        "env.MICROSOFT_OAUTH_CLIENT_SECRET",
        "oauth.google.submitted",
        "oauth.microsoft.created",
        "vault.security_review.approved",
        "environment.dev_configured",
    ):
        assert sev[blocking] is Severity.BLOCKING, blocking
    for major in (
        "env.RETELL_API_KEY",
        "env.TOKEN_VAULT_URL",
        "oauth.google.approved",
        "sandbox.twilio.operational",
        "vault.service.implemented",
    ):
        assert sev[major] is Severity.MAJOR, major


def test_every_check_validates_against_its_kind(manifest):
    from checks.core.registry import get_registry

    params = get_registry(load_plugins=False).validate(manifest)
    assert set(params) == {c.id for c in manifest.all_checks}


def test_provider_probes_cover_the_seed_lines(manifest):
    kinds = {c.kind for c in manifest.checks}
    assert {"manual", "oauth_google", "twilio", "retell", "ghl"} <= kinds
    google = {c.params.get("environment") for c in manifest.checks if c.params.get("probe") == "redirect"}
    assert google >= {"dev", "staging", "app"}


def test_manual_checks_have_valid_params(manifest):
    from checks.builtin.manual import ManualParams

    manual = [c for c in manifest.checks if c.kind == "manual"]
    assert manual, "the manifest states manual facts (attestations)"
    for check in manual:
        ManualParams.model_validate(check.params)
    params = {c.id: c.params for c in manual}
    assert params["oauth.google.submitted"]["pass_on"] == ["submitted", "approved"]
    assert params["oauth.google.approved"]["pending_on"] == ["submitted"]
    for sb in manifest.sandboxes:
        assert f"sandbox.{sb.id}.requested" in params
        assert "requested" in params[f"sandbox.{sb.id}.operational"]["pending_on"]


def test_env_checks_are_generated_not_listed(manifest):
    assert not [c for c in manifest.checks if c.kind == "env" or c.id.startswith("env.")]
    assert [c.id for c in manifest.all_checks[: len(manifest.env)]] == [f"env.{v.name}" for v in manifest.env]


# --- refusals: each names the file and the field path ---------------------------------------------


def test_unknown_key(data):
    err = problems_of(data, lambda d: d["release"].__setitem__("colour", "red"))
    assert "unknown key" in fields(err)["release.colour"]
    assert "release.colour: unknown key" in str(err)


def test_unknown_key_in_a_list(data):
    err = problems_of(data, lambda d: d["items"][2].__setitem__("ownr", "platform"))
    assert "unknown key" in fields(err)["items[2].ownr"]


def test_unknown_key_under_a_name_with_brackets(data):
    """A user's own key may hold brackets (``[oauth_apps."google[eu]"]``): the refusal still names it, as it
    skips only pydantic's own validator wrappers (``function-after[...]``), which are not fields."""

    def change(d):
        app = copy.deepcopy(d["oauth_apps"]["google"])
        app["colour"] = "red"
        d["oauth_apps"]["google[eu]"] = app

    err = problems_of(data, change)
    assert "unknown key" in fields(err)["oauth_apps.google[eu].colour"]


def test_bad_redirect_uri(data):
    def change(d):
        d["oauth_apps"]["google"]["redirect_uris"][1]["uri"] = "http://staging.maxai-platform.com/cb"

    err = problems_of(data, change)
    assert "must be an https URL" in fields(err)["oauth_apps.google.redirect_uris[1].uri"]
    assert "oauth_apps.google.redirect_uris[1].uri: must be an https URL" in str(err)


@pytest.mark.parametrize(
    ("path", "change"),
    [
        ("release.refresh_interval_s", lambda d: d["release"].__setitem__("refresh_interval_s", "often")),
        ("release.assessment_date", lambda d: d["release"].__setitem__("assessment_date", "last monday")),
        ("items[0].blocks", lambda d: d["items"][0].__setitem__("blocks", 65)),
        ("items[0].priority", lambda d: d["items"][0].__setitem__("priority", "urgent")),
        ("areas[0].timeline.unit", lambda d: d["areas"][0]["timeline"].__setitem__("unit", "fortnights")),
        ("checks[0].severity", lambda d: d["checks"][0].__setitem__("severity", "fatal")),
    ],
    ids=["int-as-string", "date", "list", "priority", "duration-unit", "severity"],
)
def test_wrong_type(data, path, change):
    assert path in fields(problems_of(data, change))


def test_duration_out_of_order(data):
    err = problems_of(data, lambda d: d["items"][0].__setitem__("expected", {"min": 7, "max": 3, "unit": "days"}))
    assert "less than min" in fields(err)["items[0].expected"]


def test_missing_required_field(data):
    err = problems_of(data, lambda d: d["release"].pop("story"))
    assert fields(err)["release.story"] == "required field is missing"


def test_invalid_toml():
    text = MANIFEST.read_text(encoding="utf-8").replace("schema = 1", "schema = = 1", 1)
    with pytest.raises(ManifestError) as info:
        parse_manifest(text, source="bad.toml")
    message = str(info.value)
    assert message.startswith("bad.toml:")
    assert "not valid TOML" in message
    line = next(n for n, ln in enumerate(text.splitlines(), 1) if ln.startswith("schema = = 1"))
    assert f"line {line}" in message


def test_missing_file(tmp_path):
    path = tmp_path / "nowhere.toml"
    with pytest.raises(ManifestError) as info:
        load_manifest(path)
    assert info.value.path == str(path)
    assert str(path) in str(info.value) and "file not found" in str(info.value)


def test_load_manifest_names_the_file(tmp_path):
    path = tmp_path / "readiness.toml"
    path.write_text(MANIFEST.read_text(encoding="utf-8").replace('release_manager = "', 'release_managr = "'))
    with pytest.raises(ManifestError) as info:
        load_manifest(path)
    assert str(info.value).startswith(f"{path}: invalid manifest")
    assert "release.release_managr" in fields(info.value)


UNKNOWN_REFERENCES = [
    ("items[0].owner", "unknown contact 'nobody'", lambda d: d["items"][0].__setitem__("owner", "nobody")),
    ("items[0].area", "unknown area 'ui'", lambda d: d["items"][0].__setitem__("area", "ui")),
    (
        "escalations[1].contact",
        "unknown contact 'legal'",
        lambda d: d["escalations"][1].__setitem__("contact", "legal"),
    ),
    (
        "escalations[0].items[1]",
        "unknown item 'oauth.apple'",
        lambda d: d["escalations"][0]["items"].__setitem__(1, "oauth.apple"),
    ),
    (
        "criteria[2].milestone",
        "unknown milestone 'week3'",
        lambda d: d["criteria"][2].__setitem__("milestone", "week3"),
    ),
    (
        "actions[0].milestone",
        "unknown milestone 'someday'",
        lambda d: d["actions"][0].__setitem__("milestone", "someday"),
    ),
    (
        "oauth_apps.google.item",
        "unknown item 'oauth.gogle'",
        lambda d: d["oauth_apps"]["google"].__setitem__("item", "oauth.gogle"),
    ),
    (
        "sandboxes[3].item",
        "unknown item 'sandbox.twillio'",
        lambda d: d["sandboxes"][3].__setitem__("item", "sandbox.twillio"),
    ),
    ("env[0].item", "unknown item 'env'", lambda d: d["env"][0].__setitem__("item", "env")),
    ("checks[0].item", "unknown item 'oauth'", lambda d: d["checks"][0].__setitem__("item", "oauth")),
    (
        "checks[1].depends_on[0]",
        "unknown check 'oauth.google.sent'",
        lambda d: d["checks"][1].__setitem__("depends_on", ["oauth.google.sent"]),
    ),
    ("risks[0].items[0]", "unknown item 'google'", lambda d: d["risks"][0].__setitem__("items", ["google"])),
    (
        "notify.routes[0].contacts[1]",
        "unknown contact 'legal'",
        lambda d: d.__setitem__(
            "notify",
            {
                "channels": {"release": {"url_env": "READINESS_NOTIFY_RELEASE"}},
                "routes": [{"contacts": ["platform", "legal"], "channels": ["release"]}],
            },
        ),
    ),
]


@pytest.mark.parametrize(("path", "what", "change"), UNKNOWN_REFERENCES, ids=[p for p, _, _ in UNKNOWN_REFERENCES])
def test_unknown_reference(data, path, what, change):
    err = problems_of(data, change)
    assert what in fields(err)[path]


def test_dependency_cycle(data):
    def change(d):
        submitted = next(c for c in d["checks"] if c["id"] == "oauth.google.submitted")
        submitted["depends_on"] = ["oauth.google.approved"]

    err = problems_of(data, change)
    message = fields(err)["checks"]
    assert "dependency cycle" in message
    assert "oauth.google.submitted" in message and "oauth.google.approved" in message


def test_a_check_that_depends_on_itself_is_refused(data):
    # A self-loop would leave the check waiting on its own result until the sweep deadline.
    def change(d):
        submitted = next(c for c in d["checks"] if c["id"] == "oauth.google.submitted")
        submitted["depends_on"] = ["oauth.google.submitted"]

    err = problems_of(data, change)
    assert fields(err)["checks"] == "dependency cycle: oauth.google.submitted -> oauth.google.submitted"


def test_duplicate_check_id(data):
    def change(d):
        d["checks"].append(dict(d["checks"][0]))

    err = problems_of(data, change)
    dup = {path: msg for path, msg in err.problems if "duplicate id" in msg}
    assert dup and "oauth.google.submitted" in next(iter(dup.values()))
    assert next(iter(dup)).startswith("checks[")


def test_duplicate_of_a_generated_env_check(data):
    def change(d):
        d["checks"].append(
            {"id": "env.GHL_PROXY_URL", "item": "oauth.ghl", "kind": "manual", "params": {"pass_on": ["ok"]}}
        )

    err = problems_of(data, change)
    assert any("duplicate id 'env.GHL_PROXY_URL'" in msg for _, msg in err.problems)


def test_criteria_glob_that_matches_nothing(data):
    err = problems_of(data, lambda d: d["criteria"][3].__setitem__("checks", ["sandbox.*.requsted"]))
    assert "matches no check" in fields(err)["criteria[3].checks[0]"]


def test_criteria_need_at_least_one_check(data):
    err = problems_of(data, lambda d: d["criteria"][0].__setitem__("checks", []))
    assert "criteria[0].checks" in fields(err)


def test_escalation_needs_a_trigger(data):
    err = problems_of(data, lambda d: d["escalations"][0].__setitem__("when", {"older_than_days": 7}))
    assert "attested" in fields(err)["escalations[0].when"]


def test_every_problem_is_reported_at_once(data):
    def change(d):
        d["items"][0]["owner"] = "nobody"
        d["criteria"][0]["milestone"] = "week9"

    err = problems_of(data, change)
    assert {"items[0].owner", "criteria[0].milestone"} <= set(fields(err))


# --- bounds on time and size (issue #9, section 4): a hung provider must not hold a sweep forever ----------


@pytest.mark.parametrize(
    ("path", "change", "words"),
    [
        ("settings.timeout_s", lambda d: d["settings"].__setitem__("timeout_s", float("inf")), "finite"),
        ("settings.timeout_s", lambda d: d["settings"].__setitem__("timeout_s", float("nan")), "finite"),
        ("settings.timeout_s", lambda d: d["settings"].__setitem__("timeout_s", 1e9), "less than or equal to 300"),
        ("checks[0].timeout_s", lambda d: d["checks"][0].__setitem__("timeout_s", float("inf")), "finite"),
        ("checks[0].timeout_s", lambda d: d["checks"][0].__setitem__("timeout_s", 1e9), "less than or equal to 300"),
        ("settings.sweep_deadline_s", lambda d: d["settings"].__setitem__("sweep_deadline_s", float("inf")), "finite"),
        ("settings.sweep_deadline_s", lambda d: d["settings"].__setitem__("sweep_deadline_s", 0), "greater than 0"),
        ("settings.sweep_deadline_s", lambda d: d["settings"].__setitem__("sweep_deadline_s", 1e9), "equal to 600"),
        ("settings.max_response_bytes", lambda d: d["settings"].__setitem__("max_response_bytes", 0), "1024"),
        ("settings.max_response_bytes", lambda d: d["settings"].__setitem__("max_response_bytes", 2**40), "67108864"),
    ],
    ids=[
        "timeout-inf",
        "timeout-nan",
        "timeout-1e9",
        "check-timeout-inf",
        "check-timeout-1e9",
        "deadline-inf",
        "deadline-zero",
        "deadline-1e9",
        "cap-zero",
        "cap-1TiB",
    ],
)
def test_unbounded_time_and_size_are_refused_naming_the_field(data, path, change, words):
    problems = fields(problems_of(data, change))
    assert path in problems and words in problems[path], problems


def test_bounds_default_and_accept_sane_values(manifest):
    settings = manifest.settings
    assert settings.max_response_bytes == 1 << 20
    assert settings.sweep_deadline_s is None
    assert settings.deadline_for([10.0, 3.0]) == 20.0  # twice the largest timeout of the sweep's checks
    assert settings.deadline_for([250.0]) == 500.0 and settings.deadline_for([400.0]) == 600.0  # bounded
    explicit = settings.model_copy(update={"sweep_deadline_s": 45.0})
    assert explicit.deadline_for([10.0]) == 45.0


# --- refusals in small manifests: the whole (field, message) list a person fixes from -------------------

from tests.checks.helpers import HEAD  # noqa: E402

GHL_VAULT_ACTION = """
[ghl_proxy]
item = "nope"
url_env = "U"
api_key_env = "K"
location_ids_env = "L"

[vault]
item = "gone"

[[actions]]
id = "x"
milestone = "week1"
title = "t"
items = ["a.one", "zz"]
"""

DUPLICATES = """
[[milestones]]
id = "week1"
title = "again"

[[sandboxes]]
id = "s"
item = "a.one"
provider = "p"
title = "t"

[[sandboxes]]
id = "s"
item = "a.one"
provider = "p"
title = "t"

[[env]]
name = "X"
item = "a.one"

[[env]]
name = "X"
item = "a.one"
"""

TEN_ITEMS = "".join(
    f'[[items]]\nid = "i{n}"\ntitle = "t"\narea = "a"\npriority = "low"\nowner = "platform"\n' for n in range(10)
)


def refused(text: str) -> list[tuple[str, str]]:
    with pytest.raises(ManifestError) as info:
        parse_manifest(text, source="x.toml")
    assert info.value.path == "x.toml"
    return info.value.problems


@pytest.mark.parametrize(
    ("text", "problems"),
    [
        (
            HEAD + GHL_VAULT_ACTION,
            [
                ("ghl_proxy.item", "unknown item 'nope' (known: a.one, b.two)"),
                ("vault.item", "unknown item 'gone' (known: a.one, b.two)"),
                ("actions[0].items[1]", "unknown item 'zz' (known: a.one, b.two)"),
            ],
        ),
        (
            HEAD.replace('[[areas]]\nid = "b"', '[[areas]]\nid = "a"'),
            [("areas[1]", "duplicate id 'a'"), ("items[1].area", "unknown area 'b' (known: a)")],
        ),
        (
            HEAD.replace('[[items]]\nid = "b.two"', '[[items]]\nid = "a.one"'),
            [("items[1]", "duplicate id 'a.one'")],
        ),
        (
            HEAD + DUPLICATES,
            [
                ("sandboxes[1]", "duplicate id 's'"),
                ("env[1]", "duplicate id 'X'"),
                ("milestones[1]", "duplicate id 'week1'"),
                ("checks[1]", "duplicate id 'env.X'"),
            ],
        ),
        (
            HEAD.replace("[contacts.platform]", "[contacts]").replace('name = "Platform Team"', ""),
            [
                ("items[0].owner", "unknown contact 'platform' (known: none declared)"),
                ("items[1].owner", "unknown contact 'platform' (known: none declared)"),
            ],
        ),
        (
            HEAD + TEN_ITEMS + '[vault]\nitem = "i99"\n',
            [("vault.item", "unknown item 'i99' (known: a.one, b.two, i0, i1, i2, i3, i4, i5)")],
        ),
    ],
    ids=["ghl-vault-actions", "duplicate-area", "duplicate-item", "duplicates", "no-contacts", "hint-of-eight"],
)
def test_cross_reference_problems_are_listed_whole(text, problems):
    assert refused(text) == problems


def test_env_checks_are_generated_with_their_params_and_severity():
    m = parse_manifest(
        HEAD
        + '[[env]]\nname = "NEED"\nitem = "a.one"\ntype = "url"\n'
        + '[[env]]\nname = "OPT"\nitem = "b.two"\nrequired = false\ntype = "api_key"\n'
        + '[[env]]\nname = "LOUD"\nitem = "b.two"\nrequired = false\nseverity = "major"\n'
    )
    got = [(c.id, c.item, c.kind, c.title, c.severity, c.params) for c in m.env_checks()]
    assert got == [
        (
            "env.NEED",
            "a.one",
            "env",
            "NEED is set and valid",
            Severity.BLOCKING,
            {"variable": "NEED", "type": "url", "secret": False, "required": True},
        ),
        (
            "env.OPT",
            "b.two",
            "env",
            "OPT is set and valid",
            Severity.MINOR,
            {"variable": "OPT", "type": "api_key", "secret": True, "required": False},
        ),
        (
            "env.LOUD",
            "b.two",
            "env",
            "LOUD is set and valid",
            Severity.MAJOR,
            {"variable": "LOUD", "type": "string", "secret": False, "required": False},
        ),
    ]


@pytest.mark.parametrize(
    ("unit", "days"),
    [("hours", 2.0), ("days", 48.0), ("business_days", 48 * 7 / 5), ("weeks", 48 * 7.0)],
)
def test_max_days_in_calendar_days(unit, days):
    assert Duration(min=1, max=48, unit=unit).max_days() == pytest.approx(days)


# --- where a number with thousands of digits is: the field a person edits -------------------------------

BIG = "9" * 4500


@pytest.mark.parametrize(
    ("text", "where"),
    [
        (HEAD + f"[settings]\ntimeout_s = {BIG}\n", f"settings.timeout_s (line {HEAD.count(chr(10)) + 2})"),
        (
            HEAD + f'[[checks]]\nid = "c"\nitem = "a.one"\nkind = "fixed"\ntimeout_s = -{BIG}\n',
            f"checks.timeout_s (line {HEAD.count(chr(10)) + 5})",
        ),
        (f"x = {BIG}\n", "x (line 1)"),
        (f"\n\nx = +{BIG}\n", "x (line 3)"),
        (f"x = [1,\n {BIG}]\n", "line 2"),
        (f"[t]\nx = [1,\n {BIG}]\n", "t (line 3)"),
    ],
    ids=["table-key", "array-of-tables-signed", "top-level", "top-level-line-3", "in-an-array", "table-array"],
)
def test_a_number_with_thousands_of_digits_names_its_field_and_line(text, where):
    assert refused(text) == [(where, "a number with thousands of digits")]


# --- loading: the file, its size and its encoding -------------------------------------------------------

KIB = 1024 * 1024 // 1024
TOO_BIG = ("", f"larger than {KIB} KiB, the most a manifest may be")


def load_refused(path: Path) -> list[tuple[str, str]]:
    with pytest.raises(ManifestError) as info:
        load_manifest(path)
    assert info.value.path == str(path)
    return info.value.problems


def test_a_missing_file_says_how_to_name_one(tmp_path):
    assert load_refused(tmp_path / "nowhere.toml") == [
        ("", "file not found; pass --manifest PATH or set READINESS_MANIFEST")
    ]


def test_a_path_that_cannot_be_read_says_why(tmp_path):
    assert load_refused(tmp_path) == [("", "cannot be read: Is a directory")]


def test_a_file_of_exactly_the_cap_loads_and_one_byte_more_is_refused(tmp_path):
    from checks.core.manifest_limits import MAX_BYTES

    text = MANIFEST.read_text(encoding="utf-8")
    padding = MAX_BYTES - len(text.encode())
    lines, rest = divmod(padding, 100)
    padded = text + ("#" * 99 + "\n") * lines + "#" * rest
    assert len(padded.encode()) == MAX_BYTES
    path = tmp_path / "readiness.toml"
    path.write_text(padded, encoding="utf-8")
    assert load_manifest(path).release.story == "STORY-ONB-05"
    path.write_text(padded + "#", encoding="utf-8")
    assert load_refused(path) == [TOO_BIG]
    with pytest.raises(ManifestError) as info:
        parse_manifest(padded + "#", source="big.toml")
    assert (info.value.path, info.value.problems) == ("big.toml", [TOO_BIG])


@pytest.mark.parametrize(
    "raw", [b"schema = 1\n\n# caf\xe9\n", b"\nschema = 1\n# caf\xe9\n"], ids=["text-first", "newline-first"]
)
def test_bytes_that_are_not_utf8_name_their_line(tmp_path, raw):
    path = tmp_path / "readiness.toml"
    path.write_bytes(raw)
    assert load_refused(path) == [("line 3", "not UTF-8 text (byte 0xe9)")]


def test_a_manifest_given_as_text_without_a_source_is_named_as_such():
    with pytest.raises(ManifestError) as info:
        parse_manifest("schema = ")
    assert info.value.path == "<manifest>" and str(info.value).startswith("<manifest>: ")


def test_a_duplicate_escalation_id_is_named_by_its_place(data):
    first = data["escalations"][0]["id"]
    err = problems_of(data, lambda d: d["escalations"][1].__setitem__("id", first))
    assert fields(err)["escalations[1]"] == f"duplicate id {first!r}"


def test_the_schema_defaults_to_1_and_another_is_refused():
    assert parse_manifest(HEAD.replace("schema = 1\n", "", 1)).schema_version == 1
    assert refused(HEAD.replace("schema = 1", "schema = 2", 1)) == [
        ("schema", "unsupported manifest schema 2: this readiness reads schema 1")
    ]


def test_limits_on_the_parsed_document_are_refused_naming_the_field():
    assert refused(HEAD + f'[[sandboxes]]\nid = "s"\nitem = "a.one"\nprovider = "p"\ntitle = "{"x" * 10_001}"\n') == [
        ("sandboxes[0].title", "10001 characters, more than the 10000 allowed")
    ]


def test_nesting_that_runs_out_of_stack_in_the_toml_parser_is_still_a_manifest_error():
    """A caller already deep in its stack (a low recursion limit stands in for it): nesting the raw-text scan
    allows (16 levels) can exhaust the stack inside the TOML parser. That is refused like any other manifest
    problem, never a RecursionError or a crash; tried at every headroom from a few frames up."""
    import sys

    text = "x = " + "[" * 16 + "]" * 16 + "\n"
    seen = set()
    frame, base, limit = sys._getframe(), 0, sys.getrecursionlimit()
    while frame is not None:
        frame, base = frame.f_back, base + 1
    for headroom in range(5, 120):
        try:
            sys.setrecursionlimit(base + headroom)
        except RecursionError:  # below the interpreter's current depth (it counts a few frames more)
            continue
        try:
            parse_manifest(text, source="x.toml")
        except ManifestError as err:
            seen.add((err.path, tuple(err.problems)))
        except RecursionError:
            seen.add("out of stack before parsing")
        finally:
            sys.setrecursionlimit(limit)
    refused = {outcome for outcome in seen if outcome != "out of stack before parsing"}
    assert refused and all(path == "x.toml" and problems for path, problems in refused), seen
    # A pure-Python parser runs out of stack inside it at some headroom: refused as too deep. The compiled one
    # (tomli's wheel) parses 16 levels in C, and the document is then refused for what it lacks.
    assert refused <= {("x.toml", (("", "nested more than 16 levels deep"),)), parse_error(text)}, seen


def parse_error(text: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    try:
        parse_manifest(text, source="x.toml")
    except ManifestError as err:
        return err.path, tuple(err.problems)
    raise AssertionError("the document was accepted")


def test_limits_on_the_raw_text_are_refused_with_the_line():
    deep = "x = " + "[" * 17 + "]" * 17 + "\n"
    assert refused(deep) == [("line 1", "nested more than 16 levels deep (arrays and tables)")]


@pytest.mark.parametrize("where", ["env", "cwd", "shipped"])
def test_default_manifest_path_env_then_cwd_then_shipped(monkeypatch, tmp_path, where):
    monkeypatch.chdir(tmp_path)
    if where == "env":
        monkeypatch.setenv("READINESS_MANIFEST", str(tmp_path / "elsewhere.toml"))
        (tmp_path / "readiness.toml").write_text("")
        assert default_manifest_path() == tmp_path / "elsewhere.toml"
    elif where == "cwd":
        monkeypatch.delenv("READINESS_MANIFEST", raising=False)
        (tmp_path / "readiness.toml").write_text("")
        assert default_manifest_path() == Path("readiness.toml")
    else:
        monkeypatch.delenv("READINESS_MANIFEST", raising=False)
        shipped = default_manifest_path()
        assert shipped.name == "default_manifest.toml" and shipped.is_file()
        assert load_manifest(shipped).release.story == "STORY-ONB-05"


def test_a_deep_web_of_dependencies_is_checked_for_cycles_in_linear_time():
    """Each check depending on the two before it: 2^n paths, but each check is walked once. A cycle search
    that walked every path would hang ``readiness check`` on a manifest like this."""
    import time

    from tests.checks.helpers import check_block, make_manifest

    blocks = [check_block("c0"), check_block("c1", depends_on=["c0"])]
    blocks += [check_block(f"c{n}", depends_on=[f"c{n - 1}", f"c{n - 2}"]) for n in range(2, 30)]
    t0 = time.perf_counter()
    manifest = make_manifest(*blocks)
    assert time.perf_counter() - t0 < 1.5  # about 0.02 s; walking every path takes over ten
    assert len(manifest.checks) == 30


def test_the_default_manifests_commented_notify_example_is_a_valid_notify_table():
    """readiness.toml ends with a commented [notify] for the seed's contacts: uncommented, it must load, and
    route each escalation contact to a channel of its own."""
    from checks.core.manifest_load import parse_manifest

    text = (ROOT / "readiness.toml").read_text()
    start = text.index("# [notify]")
    lines = [ln[2:] if ln.startswith("# ") else "" for ln in text[start:].splitlines()]
    m = parse_manifest(text[:start] + "\n".join(lines), source="readiness.toml")
    assert set(m.notify.channels) == {"release", "platform", "security"}
    assert {c for r in m.notify.routes for c in r.contacts} == {"platform", "security"} <= set(m.contacts)
    assert all(ch.url_env.startswith("READINESS_NOTIFY_") for ch in m.notify.channels.values())
