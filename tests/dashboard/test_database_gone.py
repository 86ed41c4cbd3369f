"""The history database goes away while the dashboard runs (PostgreSQL restarted, the network dropped):
the next page shows one ``st.error`` line naming the database, password masked, not a stack trace.

The database is PostgreSQL behind a loopback TCP relay that the test closes, so the connection is truly
refused, as a person would see it.
"""

from __future__ import annotations

import os
import socket
import threading
from contextlib import suppress

import sqlalchemy as sa
import streamlit as st
from streamlit.testing.v1 import AppTest

from checks.storage.history import Store
from tests.dashboard.story import NOWHERE, ROOT, copy_manifest

PASSWORD = "relay-s3cr3t"


class Relay:
    """Forwards loopback connections on a free port to ``target``; :meth:`close` refuses every new one."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            self.sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        with suppress(OSError):
            while data := src.recv(65536):
                dst.sendall(data)
        with suppress(OSError):
            dst.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        with suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept(); close() alone would not
        self.listener.close()
        for s in self.sockets:
            with suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()


def test_database_gone_mid_session_is_one_error_line(pg_url, tmp_path, monkeypatch):
    real = sa.make_url(pg_url)
    relay = Relay((real.host or "127.0.0.1", real.port or 5432))
    url = real.set(host="127.0.0.1", port=relay.port, password=PASSWORD).render_as_string(hide_password=False)
    Store.open(url).close()  # migrated, empty
    for name in list(os.environ):
        if name.startswith("READINESS_DASHBOARD_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("READINESS_DB_URL", url)
    monkeypatch.setenv("READINESS_MANIFEST", str(copy_manifest(tmp_path)))
    monkeypatch.setenv("READINESS_STANDINS_URL", NOWHERE["READINESS_STANDINS_URL"])
    try:
        at = AppTest.from_file(str(ROOT / "dashboard" / "app.py"), default_timeout=60)
        at.run()
        assert not at.exception and not at.error, [e.value for e in at.exception]
        relay.close()
        at.switch_page("trends.py").run()  # its reads are not cached yet: they go to the database
    finally:
        relay.close()
        st.cache_resource.clear()
    assert not at.exception, [e.value for e in at.exception]
    (error,) = at.error
    assert "\n" not in error.value
    assert error.value.startswith(
        f"Cannot open the database `postgresql+psycopg://postgres:***@127.0.0.1:{relay.port}/"
    )
    assert "OperationalError" in error.value and "READINESS_DB_URL" in error.value
    assert PASSWORD not in error.value
