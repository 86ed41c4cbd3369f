"""The watcher's refresher cycle against the Google token-endpoint stand-in: a due token is renewed, counted in
/metrics, and a revoked grant becomes the vault-health alert (the client secret never in a message)."""

from __future__ import annotations

import base64
from datetime import timedelta

from checks.core.clock import FixedClock, SystemClock
from checks.core.manifest_load import parse_manifest
from checks.shell.watch import Watcher
from checks.standins.oauth import GoogleOAuthStandin
from checks.standins.server import StandinServer
from checks.storage.history import Store
from tests.checks.watch_helpers import WATCH_TOML, Mailbox, Webhook
from vault import Actor, Role, StaticKeySource, Vault

KEY = bytes(range(7, 39))
CLIENT = ("123456789012-abc.apps.googleusercontent.com", "GOCSPX-watchtestsecretvalue1234")


def test_refresher_renews_a_due_token_and_a_revoked_grant_alerts(sqlite_url):
    google = GoogleOAuthStandin()
    google.register_client(*CLIENT)
    clock = SystemClock()
    hook, mail = Webhook(), Mailbox()
    with StandinServer([google]) as server:
        issued = FixedClock(clock.now() - timedelta(hours=1))  # an hour-long token issued an hour ago: due now
        vault = Vault.init(sqlite_url, StaticKeySource(KEY), issued)
        try:
            good = google.grant("ops@example.org", CLIENT[0])
            bad = google.grant("gone@example.org", CLIENT[0])
            for account, refresh in (("ops@example.org", good), ("gone@example.org", bad)):
                vault.put(
                    Actor("ada", Role.ADMIN),
                    "acme",
                    "google",
                    account,
                    "ya29.a0old" + account,
                    refresh,
                    expires_at=clock.now() + timedelta(minutes=5),
                    scopes=["openid"],
                )
        finally:
            vault.close()
        google.revoke(bad)
        env = {
            "TOKEN_VAULT_ENCRYPTION_KEY": base64.b64encode(KEY).decode(),
            "TOKEN_VAULT_DB_URL": sqlite_url,
            "GOOGLE_OAUTH_CLIENT_ID": CLIENT[0],
            "GOOGLE_OAUTH_CLIENT_SECRET": CLIENT[1],
            "READINESS_STANDINS_URL": server.url,
            "READINESS_NOTIFY_HOOK": hook.url,
            "READINESS_NOTIFY_MAIL": mail.url,
        }
        manifest = parse_manifest(WATCH_TOML, source="watch.toml")
        with Store.open(sqlite_url) as store:
            w = Watcher(manifest, store, interval_s=60, environ=env, refresh_every_s=0)
            w.refresh_once()
            metrics = w.metrics.render().decode()
            assert 'readiness_refreshes_total{result="refreshed"} 1.0' in metrics
            assert 'readiness_refreshes_total{result="needs_reauth"} 1.0' in metrics
            assert len(w.refresh_problems) == 1 and "gone@example.org" in w.refresh_problems[0]
            assert w.lease.acquire()
            notes = w.sweep_and_notify()
    hook.close()
    mail.close()
    vault_note = next(n for n in notes if n.event == "vault_health")
    assert vault_note.status == "sent" and "needs_reauth" in vault_note.body
    assert CLIENT[1] not in vault_note.body
