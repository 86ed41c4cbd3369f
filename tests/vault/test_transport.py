"""TLS is judged on the live connection: what libpq connected to, not what the URL says.

The local PostgreSQL listens on 127.0.0.1 only, without TLS. To give libpq a real non-loopback route to it,
a plain TCP forwarder listens on this machine's first non-loopback address (``hostname -I``) and relays to
127.0.0.1:5432: libpq then reports that address as ``hostaddr`` and no TLS, exactly as it would for a
remote server reached through ``?hostaddr=``, ``PGHOSTADDR`` or a pg_service.conf entry.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import threading
from collections.abc import Iterator
from urllib.parse import parse_qsl, urlencode

import pytest

from vault import Actor, Role, StaticKeySource, Vault, VaultError
from vault.transport import check_transport, judge_connection

K1 = bytes(range(32))


# ----------------------------------------------------------------------------------------- the forwarder


def _non_loopback_ipv4() -> str | None:
    try:
        out = subprocess.run(["hostname", "-I"], capture_output=True, text=True, timeout=5).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return next((a for a in out.split() if "." in a and not a.startswith("127.")), None)


def _pump(src: socket.socket, dst: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while data := src.recv(65536):
            dst.sendall(data)
    with contextlib.suppress(OSError):
        dst.shutdown(socket.SHUT_WR)


class Forwarder:
    """Listens on ``host``:ephemeral and relays every connection to 127.0.0.1:5432."""

    def __init__(self, host: str) -> None:
        self.host = host
        self.server = socket.create_server((host, 0))
        self.port = self.server.getsockname()[1]
        self.accepted = 0
        self._stop = False
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            self.accepted += 1
            upstream = socket.create_connection(("127.0.0.1", 5432))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pump, args=(a, b), daemon=True).start()

    def close(self) -> None:
        self._stop = True
        self.server.close()


@pytest.fixture
def forwarder(pg_url) -> Iterator[Forwarder]:
    address = _non_loopback_ipv4()
    if address is None:
        pytest.skip("this host has no non-loopback IPv4 address to route through")
    fwd = Forwarder(address)
    yield fwd
    fwd.close()


def _without_host(pg_url: str, **query: str) -> str:
    """``pg_url`` (its fresh schema kept in ``options``) with no host, plus ``query``."""
    base, _, qs = pg_url.partition("?")
    params = dict(parse_qsl(qs))
    params.update(query)
    return base.replace("@127.0.0.1:5432", "@") + "?" + urlencode(params)


# ------------------------------------------------------------------------- routes the URL does not show


def test_hostaddr_in_the_url_is_refused_before_connecting(forwarder, pg_url):
    url = _without_host(pg_url, hostaddr=forwarder.host, port=str(forwarder.port))
    with pytest.raises(VaultError, match=r"sslmode=require") as err:
        Vault.init(url, StaticKeySource(K1))
    assert forwarder.host in str(err.value) and "\n" not in str(err.value)
    assert forwarder.accepted == 0  # the URL said where it would go: nothing was sent


def test_the_live_check_refuses_a_hostaddr_route_the_url_check_let_through(forwarder, pg_url, monkeypatch):
    # The URL pre-check is only a fast path; the live check stands on its own.
    monkeypatch.setattr("vault.store_session.check_transport", lambda url: None)
    url = _without_host(pg_url, hostaddr=forwarder.host, port=str(forwarder.port))
    with pytest.raises(VaultError, match=r"sslmode=require") as err:
        Vault.init(url, StaticKeySource(K1))
    assert forwarder.host in str(err.value)
    assert forwarder.accepted >= 1  # it really connected, then refused


def test_pghostaddr_from_the_environment_is_judged_by_the_live_connection(forwarder, pg_url, monkeypatch):
    monkeypatch.setenv("PGHOSTADDR", forwarder.host)
    monkeypatch.setenv("PGPORT", str(forwarder.port))
    with pytest.raises(VaultError, match=r"sslmode=require"):
        Vault.init(_without_host(pg_url), StaticKeySource(K1))
    assert forwarder.accepted >= 1


def test_a_pg_service_entry_is_judged_by_the_live_connection(forwarder, pg_url, monkeypatch, tmp_path):
    services = tmp_path / "pg_service.conf"
    services.write_text(f"[vaultdb]\nhost=db.internal.example\nhostaddr={forwarder.host}\nport={forwarder.port}\n")
    monkeypatch.setenv("PGSERVICEFILE", str(services))
    with pytest.raises(VaultError, match=r"sslmode=require") as err:
        Vault.init(_without_host(pg_url, service="vaultdb"), StaticKeySource(K1))
    assert forwarder.host in str(err.value)
    assert forwarder.accepted >= 1


def test_every_pooled_connection_is_checked_not_just_the_first(forwarder, pg_url, monkeypatch):
    monkeypatch.setenv("PGHOSTADDR", "127.0.0.1")
    monkeypatch.setenv("PGPORT", "5432")
    admin = Actor("ada", Role.ADMIN)
    with Vault.init(_without_host(pg_url), StaticKeySource(K1)) as v:
        v.put(admin, "acme", "google", "ops@acme.test", "tok-1")
        v.engine.dispose()  # the next operation needs a new connection, routed elsewhere
        monkeypatch.setenv("PGHOSTADDR", forwarder.host)
        monkeypatch.setenv("PGPORT", str(forwarder.port))
        with pytest.raises(VaultError, match=r"sslmode=require"):
            v.list(admin)


@pytest.mark.parametrize("hostaddr", ["127.0.0.1", "::ffff:127.0.0.1"], ids=["ipv4", "ipv4-mapped"])
def test_loopback_through_hostaddr_is_accepted(pg_url, hostaddr):
    url = _without_host(pg_url, host="db.example.invalid", hostaddr=hostaddr, port="5432")
    with Vault.init(url, StaticKeySource(K1)) as v:
        assert v.stats(Actor("ada", Role.ADMIN)).credentials == 0


def test_a_unix_socket_connection_is_accepted(pg_url):
    with Vault.init(_without_host(pg_url, host="/var/run/postgresql"), StaticKeySource(K1)):
        pass


def test_the_decision_reads_real_psycopg_connection_info(pg_url):
    import psycopg

    with psycopg.connect("host=db.example.invalid hostaddr=127.0.0.1 port=5432 user=postgres dbname=test") as conn:
        assert judge_connection(conn.info.host, conn.info.hostaddr, conn.pgconn.ssl_in_use) is None


# ------------------------------------------------------------------------------------------ the rule


@pytest.mark.parametrize(
    ("host", "hostaddr", "ssl", "refused"),
    [
        ("db.example.com", "203.0.113.9", True, False),
        ("db.example.com", "203.0.113.9", False, True),
        ("10.0.0.5", "10.0.0.5", False, True),
        ("db.example.com", "", False, True),  # cannot tell where it went: refuse
        ("localhost", "127.0.0.1", False, False),
        ("localhost", "::1", False, False),
        ("anything", "::ffff:127.0.0.1", False, False),
        ("anything", "::ffff:192.0.2.2", False, True),
        ("/var/run/postgresql", "", False, False),
        ("@abstract", "", False, False),
    ],
    ids=[
        "tls",
        "remote-plain",
        "private-plain",
        "unknown-addr",
        "v4-loop",
        "v6-loop",
        "mapped-loop",
        "mapped-remote",
        "unix",
        "abstract-socket",
    ],
)
def test_the_rule(host, hostaddr, ssl, refused):
    problem = judge_connection(host, hostaddr, ssl)
    assert (problem is not None) is refused
    if problem:
        assert "sslmode=require" in problem and "\n" not in problem


def test_the_url_check_judges_hostaddr_not_the_name_it_verifies():
    check_transport("postgresql+psycopg://postgres@db.example.invalid/test?hostaddr=127.0.0.1")
    with pytest.raises(VaultError, match="sslmode=require"):
        check_transport("postgresql+psycopg://postgres@/test?hostaddr=192.0.2.2")
