"""Running the vault service: uvicorn with TLS (a certificate and key; optionally client certificates, mutual
TLS), plain HTTP only on loopback, logs through the redacting filter.

:func:`check_listen` is the rule; :func:`uvicorn_config` the server's settings; :class:`BackgroundServer` runs
one in a thread (tests, benchmarks, an embedding process); ``readiness vault serve`` runs one in the foreground.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import ssl
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import uvicorn

from vault.errors import VaultError
from vault.redact import install

__all__ = ["BackgroundServer", "ServeRefused", "bind", "check_listen", "configure_logging", "uvicorn_config"]

_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "vault.service")


class ServeRefused(VaultError):
    """The service would listen in a way the design forbids (plain HTTP off loopback, half a TLS pair)."""


def _loopback(host: str) -> bool:
    host = host.strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_listen(
    host: str, certfile: str | Path | None, keyfile: str | Path | None, client_ca: str | Path | None = None
) -> bool:
    """Whether the service will speak TLS; raise :class:`ServeRefused` for plain HTTP off loopback, a
    certificate without its key (or the reverse), client certificates without TLS, or a missing file."""
    if bool(certfile) != bool(keyfile):
        raise ServeRefused("give both --cert and --key (the certificate and its private key), or neither")
    tls = bool(certfile)
    if not tls and not _loopback(host):
        raise ServeRefused(
            f'refusing plain HTTP on {host}: the vault service speaks TLS off loopback ("TLS '
            'encryption for all token vault communications"); pass --cert and --key, or listen on '
            "127.0.0.1"
        )
    if client_ca and not tls:
        raise ServeRefused("--client-ca (mutual TLS) needs --cert and --key")
    for path, what in ((certfile, "--cert"), (keyfile, "--key"), (client_ca, "--client-ca")):
        if path and not Path(path).is_file():
            raise ServeRefused(f"{what} {path}: no such file")
    return tls


def configure_logging(access_log: bool = True) -> None:
    """Request lines (``vault.service``, INFO) and uvicorn's warnings on stderr, every handler behind the
    redacting filter (:func:`vault.redact.install`)."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    if not root.handlers:
        root.addHandler(handler)
    logging.getLogger("vault.service").setLevel(logging.INFO if access_log else logging.WARNING)
    shared = install()  # the root's filter (the CLI's), for all of them: a request line is scrubbed once
    for name in _LOGGERS:
        shared = install(logging.getLogger(name), shared)


def uvicorn_config(
    app: Any,
    host: str,
    port: int,
    *,
    certfile: str | Path | None = None,
    keyfile: str | Path | None = None,
    client_ca: str | Path | None = None,
    log_level: str = "warning",
) -> uvicorn.Config:
    """The server's settings: TLS 1.2+ when given a certificate, client certificates required with
    ``client_ca``, keep-alive, no uvicorn access log (the app writes its own, scrubbed), and no proxy headers:
    the service terminates TLS itself, so a caller is its socket's peer (uvicorn would otherwise believe an
    ``X-Forwarded-For`` sent from loopback: a made-up address in the audit chain, a fresh rate-limit bucket for
    an unidentified caller per address it invents)."""
    tls = check_listen(host, certfile, keyfile, client_ca)
    shared = install()  # one filter for every logger (see configure_logging)
    for name in _LOGGERS:
        install(logging.getLogger(name), shared)
    options: dict[str, Any] = {}
    if tls:
        options.update(ssl_certfile=str(certfile), ssl_keyfile=str(keyfile))
        if client_ca:
            options.update(ssl_ca_certs=str(client_ca), ssl_cert_reqs=ssl.CERT_REQUIRED)
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        access_log=False,
        log_config=None,
        log_level=log_level,
        lifespan="off",
        timeout_keep_alive=30,
        server_header=False,
        proxy_headers=False,
        **options,
    )


def bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound here so that a port in use is one line (uvicorn would exit 1 after a log)."""
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    # proto IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets whose proto says TCP, and without it
    # every small response waits on Nagle and the client's delayed ACK (40 ms a request on Linux).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as exc:
        sock.close()
        raise ServeRefused(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.set_inheritable(True)
    return sock


class BackgroundServer:
    """A uvicorn server in a daemon thread: ``with BackgroundServer(config) as server: server.url``."""

    def __init__(self, config: uvicorn.Config) -> None:
        self.server = uvicorn.Server(config)
        self.config = config
        self.socket = bind(config.host, config.port)  # as `readiness vault serve` listens
        self._thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.socket]}, name="vault-service", daemon=True
        )

    @property
    def url(self) -> str:
        port = self.socket.getsockname()[1]
        scheme = "https" if self.config.ssl_certfile else "http"
        return f"{scheme}://{self.config.host}:{port}"

    def start(self, timeout: float = 15.0) -> BackgroundServer:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise VaultError("the vault service did not start (see its log)")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self._thread.join(10)
        self.socket.close()

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
