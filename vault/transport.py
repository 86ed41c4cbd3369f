"""Vault traffic is encrypted in transit: judged on the URL before connecting, and on every live connection.

Two checks, both refusing a non-loopback PostgreSQL connection without TLS:

* :func:`check_transport` reads the URL before anything is sent (so a password never crosses the wire in
  clear because of a URL we could have refused): a non-loopback ``host`` (or ``hostaddr``, which is what
  libpq actually dials when given) needs ``sslmode=require``, ``verify-ca`` or ``verify-full``.
* :func:`check_connection` runs on every new DBAPI connection (SQLAlchemy's ``connect`` event, so every
  pooled connection): it reads what libpq connected to (``info.host``, ``info.hostaddr``) and whether TLS
  is in use (``pgconn.ssl_in_use``), and closes and refuses a non-loopback connection without TLS. This is
  the one that sees routes the URL does not show: ``PGHOSTADDR``, ``PGHOST``, a ``pg_service.conf`` entry
  (``?service=``), ``hostaddr`` lists, DNS.

Loopback (``127.0.0.0/8``, ``::1``, ``::ffff:127.0.0.1``) and Unix sockets may go without TLS.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
from typing import Any

import sqlalchemy as sa

from vault.errors import VaultError

__all__ = ["check_connection", "check_transport", "install", "is_loopback", "judge_connection"]

_TLS_MODES = frozenset({"require", "verify-ca", "verify-full"})
_FIX = (
    "add sslmode=require (or verify-full) to TOKEN_VAULT_DB_URL (or to its pg_service.conf entry); only "
    "loopback and Unix-socket connections may go without TLS"
)


def is_loopback(host: str) -> bool:
    """True for a loopback address (IPv4-mapped too), ``localhost``, or a Unix-socket path."""
    host = host.strip().strip("[]")
    if not host or host.startswith(("/", "@")) or host == "localhost":
        return True  # a Unix socket directory (or Linux abstract socket), or the local host
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


def _values(query: Any, key: str) -> list[str]:
    value = query.get(key)
    if value is None:
        return []
    items = [value] if isinstance(value, str) else list(value)
    return [h for item in items for h in item.split(",") if h]


def check_transport(url: str | sa.URL) -> None:
    """Refuse, before connecting, a PostgreSQL URL that names a non-loopback server and no TLS ``sslmode``.

    Where the URL gives ``hostaddr``, that is what libpq dials (``host`` then only names the server for TLS
    and authentication), so ``hostaddr`` is judged. Routes the URL does not show are left to
    :func:`check_connection`.
    """
    parsed = sa.make_url(url)
    if parsed.get_backend_name() != "postgresql":
        return
    hosts = _values(parsed.query, "hostaddr")
    if not hosts:
        hosts = parsed.host.split(",") if parsed.host else []
        hosts += _values(parsed.query, "host")
        if not hosts and os.environ.get("PGHOST"):
            hosts += os.environ["PGHOST"].split(",")
    remote = [h for h in hosts if not is_loopback(h)]
    if not remote:
        return
    mode = parsed.query.get("sslmode")
    if isinstance(mode, str) and mode in _TLS_MODES:
        return
    shown = f"sslmode={mode}" if mode else "no sslmode"
    raise VaultError(
        f"refusing to open the vault over an unencrypted connection to {', '.join(remote)} ({shown}): {_FIX}"
    )


def judge_connection(host: str | None, hostaddr: str | None, ssl_in_use: bool) -> str | None:
    """Why a live connection must be refused (one line), or ``None`` when it may be used.

    ``host`` and ``hostaddr`` are libpq's ``PQhost``/``PQhostaddr`` of the connection made: the address
    dialled is the truth; the host name only names it. With TLS in use anything goes; without it, only a
    loopback address or a Unix socket. A TCP connection whose address libpq does not report is refused.
    """
    if ssl_in_use:
        return None
    host = host or ""
    hostaddr = hostaddr or ""
    if hostaddr:
        if is_loopback(hostaddr):
            return None
        target = hostaddr if not host or host == hostaddr else f"{hostaddr} (host {host})"
    elif host.startswith(("/", "@")):
        return None  # a Unix socket: libpq reports no address for it
    else:
        target = f"{host or 'an unknown host'} (address not reported)"
    return f"refusing an unencrypted vault connection to {target}: {_FIX}"


def check_connection(dbapi_conn: Any) -> None:
    """Close and refuse a live psycopg connection that is neither TLS nor loopback/Unix socket."""
    info = dbapi_conn.info
    try:
        hostaddr = info.hostaddr
    except Exception:  # libpq older than 12 cannot say; judge_connection then refuses unless it is a socket
        hostaddr = ""
    problem = judge_connection(info.host, hostaddr, bool(dbapi_conn.pgconn.ssl_in_use))
    if problem is not None:
        with contextlib.suppress(Exception):
            dbapi_conn.close()
        raise VaultError(problem)


def install(engine: sa.Engine) -> None:
    """Check every connection ``engine``'s pool opens (PostgreSQL with psycopg; other drivers are left alone)."""
    if engine.dialect.name != "postgresql":
        return
    if engine.dialect.driver != "psycopg":
        raise VaultError(
            f"the vault judges TLS on the live connection and needs the psycopg driver, not "
            f"{engine.dialect.driver}: write the URL as postgresql+psycopg://..."
        )

    @sa.event.listens_for(engine, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        check_connection(dbapi_conn)
