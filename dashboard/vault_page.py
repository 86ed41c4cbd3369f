"""Vault: keys (fingerprints only), tenants, credentials, expiry, refresh failures, self-test, audit chain."""

import pandas as pd
import streamlit as st

from checks.presentation import pagetext, plots
from checks.presentation.views import credentials
from dashboard import context, data, widgets
from vault import KeyUnavailable, VaultError
from vault.rbac import Op, allows

page = context.load()
s = page.settings
st.title("Token vault")
widgets.show_flash()

if not s.vault_configured:
    st.info(
        "No token vault is configured for this dashboard. Set TOKEN_VAULT_DB_URL (default: the history "
        "database) and the key: TOKEN_VAULT_ENCRYPTION_KEY (base64, 32 bytes) with TOKEN_VAULT_KEY_SOURCE=env, "
        "or TOKEN_VAULT_KEY_SOURCE=file:PATH or gcp:projects/P/secrets/S; create the vault once with "
        "`readiness vault init`, then restart the dashboard."
    )
    st.stop()

try:
    vault = data.vault(s.vault_db_url, s.key_source, page.clock)
except KeyUnavailable as exc:
    st.error(f"The vault's key is not available: {exc}")
    st.stop()
except VaultError as exc:
    st.error(f"The vault cannot be opened: {exc}")
    st.stop()
except Exception as exc:
    st.error(data.db_error(s.vault_db_url, exc, "TOKEN_VAULT_DB_URL"))
    st.stop()

actor = context.vault_actor(page.who, page.role)
try:
    state = data.vault_state(s.vault_db_url, s.key_source, actor.name, actor.role.value, vault)
except VaultError as exc:
    st.error(f"The vault refused or failed: {exc}")
    st.stop()
stats, creds = state["stats"], state["credentials"]
st.caption(f"`{context.mask_url(s.vault_db_url)}` · key source `{s.key_source}`")
st.caption(pagetext.vault_role_note(page.role, actor.role.value, actor.name))

c1, c2, c3, c4 = st.columns(4)
c1.metric("Tenants", stats.tenants, border=True)
c2.metric("Credentials", stats.credentials, border=True)
c3.metric("Expiring within 24 h", stats.expiring_soon, border=True)
c4.metric("Refresh failing", stats.refresh_failing, border=True)

st.subheader("Key versions")
st.dataframe(pd.DataFrame(state["keys"]), hide_index=True, height="content")
if stats.pending_rewrap:
    st.warning(
        "Data keys still wrapped under an older KEK: "
        + ", ".join(f"{fp} ({n})" for fp, n in stats.pending_rewrap.items())
        + ". Rotate (admin)."
    )
if stats.rotations_in_progress:
    st.warning("Rotation interrupted or running: " + ", ".join(stats.rotations_in_progress) + ". Rerun it.")

st.subheader("Tenants and credentials")
if creds.empty:
    st.caption("No credential stored yet.")
else:
    st.plotly_chart(plots.credentials_by_provider(stats.by_provider_state), key="creds")
    tenants = creds.groupby("tenant").agg(
        credentials=("provider", "size"),
        providers=("provider", lambda p: ", ".join(sorted(set(p)))),
        data_keys=("dek", lambda d: ", ".join(sorted(set(d)))),
    )
    st.dataframe(tenants.reset_index(), hide_index=True, height="content")
    st.dataframe(creds, hide_index=True)

    st.subheader("Expiring soon")
    soon = credentials.expiring_credentials(creds, page.now())
    if soon.empty:
        st.caption("Nothing expires within 24 hours.")
    else:
        st.dataframe(soon, hide_index=True)
    st.subheader("Refresh failures and re-authorisation")
    trouble = creds[(creds["failures"] > 0) | (creds["state"] == "needs_reauth")]
    if trouble.empty:
        st.caption("No refresh failure, no needs_reauth.")
    else:
        st.dataframe(trouble, hide_index=True)

st.subheader("Self-test")
report = data.selftest(s.key_source)
verdict = "passed" if report.ok else "FAILED"
(st.success if report.ok else st.error)(
    f"Self-test {verdict}: {sum(r.passed for r in report.results)} of {len(report.results)} checks "
    f"in {report.duration_ms:.0f} ms"
)
st.dataframe(
    pd.DataFrame(
        [
            {
                "check": r.name,
                "result": "pass" if r.passed else "FAIL",
                "detail": r.detail,
                "ms": round(r.duration_ms, 1),
            }
            for r in report.results
        ]
    ),
    hide_index=True,
    height="content",
)

st.subheader("Audit chain")
if allows(actor, Op.AUDIT_VERIFY):
    audit = vault.verify_audit(actor)
    (st.success if audit.ok else st.error)(f"Audit chain: {audit.summary}")
    st.dataframe(
        pd.DataFrame(
            [
                {**{k: v for k, v in vars(e).items() if k not in ("prev_mac", "mac")}, "detail": str(e.detail)}
                for e in vault.audit_events(actor, limit=200)
            ]
        ),
        hide_index=True,
    )
else:
    st.info(
        f"Verifying the audit chain and reading the audit log need the auditor or admin role; this "
        f"dashboard runs as {page.role} (READINESS_DASHBOARD_ROLE)."
    )

if allows(actor, Op.ROTATE_KEK):
    st.subheader("Rotation (admin)")
    st.caption(
        "Rotate KEK: rewrap every tenant's data key under the key source's primary KEK. "
        "Rewrap DEK: give a tenant a new data key and re-seal its tokens. Both resume if interrupted."
    )
    left, right = st.columns(2)
    if left.button("Rotate KEK", key="rotate_kek"):
        bar = left.progress(0.0, text="Rewrapping data keys…")
        done = vault.rotate_kek(
            actor, progress=lambda n, total: bar.progress(min(1.0, n / max(total, 1)), text=f"{n} of {total} rewrapped")
        )
        data.clear()
        widgets.flash(
            f"KEK rotation to {done.target}: {done.rewritten} of {done.total} rewrapped"
            + ("" if done.complete else f", {done.remaining} left: run it again")
        )
    tenant_ids = sorted(set(creds["tenant"])) if not creds.empty else []
    tenant = right.selectbox("Tenant", tenant_ids, key="rewrap_tenant")
    if right.button("Rewrap DEK", key="rotate_dek", disabled=not tenant):
        bar = right.progress(0.0, text=f"Re-sealing {tenant}…")
        done = vault.rotate_dek(
            actor,
            tenant,
            progress=lambda n, total: bar.progress(min(1.0, n / max(total, 1)), text=f"{n} of {total} re-sealed"),
        )
        data.clear()
        widgets.flash(
            f"{done.target}: {done.rewritten} of {done.total} credentials re-sealed"
            + ("" if done.complete else f", {done.remaining} left: run it again")
        )
