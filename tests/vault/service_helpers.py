"""What the vault service's tests share: TLS material from a test CA (trustme), a clock that runs (real time
plus an offset, so a credential can be stored "an hour ago"), databases made once per module, and a running
server (uvicorn in a thread, on loopback, over TLS) with its own vault."""

from __future__ import annotations

import contextlib
import secrets
import ssl
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import trustme

from tests.conftest import PG_URL, require_pg
from tests.pgschema import fresh_schema
from vault import Actor, Role, StaticKeySource, Vault
from vault.refresh import ProviderEndpoint, Refresher, standins_rewriter
from vault.serve import BackgroundServer, uvicorn_config
from vault.service_app import ServiceSettings, build_app
from vault.service_refresh import OnDemandRefresh

KEY = bytes(range(21, 53))
ADMIN = Actor("ada", Role.ADMIN)
GOOGLE_CLIENT = ("123456789012-svc.apps.googleusercontent.com", "GOCSPX-" + secrets.token_urlsafe(20))


class OffsetClock:
    """Real time, plus ``offset``."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset


@dataclass
class Tls:
    ca: trustme.CA
    cert: Path
    key: Path
    ca_file: Path

    def context(self, client_cert: bool = False) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.ca_file))
        if client_cert:
            issued = self.ca.issue_cert("wizard-backend.test")
            issued.configure_cert(ctx)
        return ctx


def make_tls(folder: Path) -> Tls:
    ca = trustme.CA()
    issued = ca.issue_cert("127.0.0.1", "localhost")
    folder.mkdir(parents=True, exist_ok=True)
    cert, key, ca_file = folder / "server.pem", folder / "server.key", folder / "ca.pem"
    cert.write_bytes(b"".join(blob.bytes() for blob in issued.cert_chain_pems))
    issued.private_key_pem.write_to_path(str(key))
    ca.cert_pem.write_to_path(str(ca_file))
    return Tls(ca, cert, key, ca_file)


@contextlib.contextmanager
def database(kind: str, folder: Path) -> Iterator[str]:
    """A fresh database URL for a module: a SQLite file, or a PostgreSQL schema dropped afterwards."""
    if kind == "sqlite":
        yield f"sqlite:///{folder / f'vault-{uuid.uuid4().hex[:6]}.db'}"
        return
    require_pg()
    with fresh_schema(PG_URL) as url:
        yield url


@dataclass
class Running:
    vault: Vault
    server: BackgroundServer
    refresh: OnDemandRefresh
    refresher: Refresher | None

    @property
    def url(self) -> str:
        return self.server.url


@contextlib.contextmanager
def running_service(
    db_url: str,
    tls: Tls | None,
    clock: OffsetClock,
    *,
    standins_url: str | None = None,
    settings: ServiceSettings | None = None,
    client_ca: Path | None = None,
) -> Iterator[Running]:
    vault = Vault.init(db_url, StaticKeySource(KEY), clock)
    refresher = None
    if standins_url is not None:
        refresher = Refresher(
            vault,
            Actor("vault-service", Role.ADMIN),
            clock=clock,
            endpoints={"google": ProviderEndpoint.google(*GOOGLE_CLIENT)},
            url_rewriter=standins_rewriter(standins_url),
        )
    refresh = OnDemandRefresh(vault, refresher, poll=0.02)
    app = build_app(vault, refresh, settings or ServiceSettings(auth_cache_ttl=0))
    config = uvicorn_config(
        app, "127.0.0.1", 0, certfile=tls.cert if tls else None, keyfile=tls.key if tls else None, client_ca=client_ca
    )
    try:
        with BackgroundServer(config) as server:
            yield Running(vault, server, refresh, refresher)
    finally:
        if refresher is not None:
            refresher.close()
        vault.close()


def put_due(
    vault: Vault, clock: OffsetClock, tenant: str, account: str, refresh_token: str, access: str | None = None
) -> str:
    """Store a Google credential issued an hour ago that expires in 5 minutes: due for refresh now."""
    access = access or "ya29.a0due-" + secrets.token_urlsafe(30)
    expires = clock.now() + timedelta(minutes=5)
    clock.offset -= timedelta(hours=1)
    try:
        return vault.put(ADMIN, tenant, "google", account, access, refresh_token, expires_at=expires, scopes=["openid"])
    finally:
        clock.offset += timedelta(hours=1)
