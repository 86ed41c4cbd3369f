"""One sweep end to end: resolve the environment, run the checks, decide, record.

This is what the CLI, the dashboard, ``readiness watch`` and the notebooks call. :func:`vault_extras` opens
the token vault for the kinds that read it (``vault``, the sandboxes' ``calendar`` probes); pass what it
returns as ``sweep(..., extras=...)`` and :func:`close_vault_extras` it afterwards.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import uuid
from collections.abc import Collection, Coroutine, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import httpx

from checks.core.clock import Clock, SystemClock
from checks.core.environment import resolve_env
from checks.core.manifest import Manifest
from checks.core.registry import Registry, get_registry
from checks.core.run import Run
from checks.core.runner import ProgressCallback, run_checks, select_checks
from checks.core.verdict import decide

if TYPE_CHECKING:
    from checks.storage.history import Store

__all__ = ["close_vault_extras", "sweep", "vault_extras"]

T = TypeVar("T")


def sweep(
    manifest: Manifest,
    *,
    store: Store | None = None,
    clock: Clock | None = None,
    environ: Mapping[str, str] | None = None,
    env_file: str | None = None,
    only: Collection[str] = (),
    areas: Collection[str] = (),
    record: bool = True,
    registry: Registry | None = None,
    on_result: ProgressCallback | None = None,
    trigger: str = "cli",
    client: httpx.AsyncClient | None = None,
    extras: dict[str, Any] | None = None,
) -> Run:
    """Run the selected checks once and return the :class:`Run`; recorded in ``store`` when given.

    Raises :class:`~checks.core.errors.ManifestError` for a manifest the registry cannot run (unknown kind,
    bad params); a check's own failure never raises.
    """
    clock = clock or SystemClock()
    registry = registry or get_registry()
    params = registry.validate(manifest)
    env, sources = resolve_env(manifest, env_file=env_file, environ=environ)
    standins = env.get("READINESS_STANDINS_URL") or None
    attestations = store.latest_attestations(clock.now()) if store is not None else {}
    waivers = store.waivers() if store is not None else []
    extras = {"env_sources": sources, **(extras or {})}
    if store is not None:
        extras.setdefault("store", store)

    started = clock.now()
    results = _run_to_completion(
        run_checks(
            manifest,
            select_checks(manifest, only, areas),
            registry=registry,
            params=params,
            clock=clock,
            env=env,
            attestations=attestations,
            client=client,
            standins_url=standins,
            extras=extras,
            on_result=on_result,
        )
    )
    finished = clock.now()
    since = store.status_since([r.id for r in results]) if store is not None else {}
    verdict, results = decide(
        manifest, results, now=finished, waivers=waivers, attestations=attestations, status_since=since
    )
    run = Run(
        id=uuid.uuid4().hex,
        started_at=started,
        finished_at=finished,
        manifest_digest=manifest.digest,
        results=results,
        verdict=verdict,
        trigger=trigger,
    )
    if store is not None and record:
        store.record_run(run)
    return run


def _run_to_completion(coro: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(coro)``; when this thread already runs an event loop (a Jupyter kernel does), on a thread of
    its own instead, since ``asyncio.run`` refuses to nest: ``checks.sweep(...)`` in a notebook cell just works."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="readiness-sweep") as pool:
        return pool.submit(asyncio.run, coro).result()


SWEEP_VAULT_ACTOR = "readiness-sweep"
"""The name the sweep's read-only vault actor writes into the vault's audit log."""


def vault_extras(
    environ: Mapping[str, str],
    *,
    db_url: str | None = None,
    clock: Clock | None = None,
) -> dict[str, Any]:
    """Open the token vault for one sweep's kinds; never raises: a problem is reported in the dict.

    ``environ`` is the resolved environment (:func:`checks.core.environment.resolve_env`); ``db_url`` the
    sweep's history database (``--db``), the vault's default like ``READINESS_DB_URL``. The vault is at
    ``TOKEN_VAULT_DB_URL``, else ``db_url``, else ``READINESS_DB_URL``, else SQLite under ``./.readiness/``,
    and is opened only when a key is configured (``TOKEN_VAULT_ENCRYPTION_KEY``, or a
    ``TOKEN_VAULT_KEY_SOURCE`` other than ``env``). A SQLite file that does not exist is not created.

    Keys of the returned dict (all optional):

    * ``vault``: the open :class:`vault.Vault` (close it with :func:`close_vault_extras`);
    * ``vault_auditor``: an ``auditor`` actor (read-only: list, stats, verify the audit chain), used by
      the ``vault`` kind;
    * ``vault_actor``: the actor of ``TOKEN_VAULT_ACTOR`` (``NAME:ROLE[:TENANT,...]``, as for
      ``readiness vault --as``), only when it is set: the ``calendar`` probes read a test account's
      token with it, so it needs ``service`` (scoped to the sandbox tenant) or ``admin``; a malformed
      value leaves it out and says why in ``vault_actor_problem``;
    * ``vault_db``: the vault's database URL, password hidden;
    * ``vault_problem`` and ``vault_problem_kind`` when no vault is open: a message that says how to fix
      it, and one of ``not_configured``, ``not_initialised``, ``key``, ``database``.
    """
    from vault.keys import ENV_KEY, ENV_SOURCE
    from vault.rbac import Actor, Role

    extras: dict[str, Any] = {"vault_auditor": Actor(SWEEP_VAULT_ACTOR, Role.AUDITOR)}
    spec = (environ.get(ENV_SOURCE) or "").strip()
    if spec in ("", "env") and not (environ.get(ENV_KEY) or "").strip():
        return _vault_problem(extras, "not_configured", f"no vault key is configured: set {ENV_KEY} (or {ENV_SOURCE})")
    # Only now the vault's store and SQLAlchemy: a sweep with no vault configured never pays for them.
    import sqlalchemy as sa

    from vault.errors import KeyUnavailable, VaultError
    from vault.keys import key_source_from_spec
    from vault.store import Vault
    from vault.store_session import DEFAULT_DB_URL

    if spec_actor := (environ.get("TOKEN_VAULT_ACTOR") or "").strip():
        _sweep_actor(spec_actor, extras)
    url = (environ.get("TOKEN_VAULT_DB_URL") or "").strip() or db_url or environ.get("READINESS_DB_URL")
    url = url or DEFAULT_DB_URL
    try:
        parsed = sa.make_url(url)
    except sa.exc.ArgumentError:
        return _vault_problem(extras, "database", "TOKEN_VAULT_DB_URL is not a database URL (value not shown)")
    shown = parsed.render_as_string(hide_password=True)
    extras["vault_db"] = shown
    database = parsed.database or ""
    if (
        parsed.get_backend_name() == "sqlite"
        and database not in ("", ":memory:")
        and not database.startswith("file:")
        and not Path(database).expanduser().exists()
    ):
        return _vault_problem(extras, "not_initialised", f"no vault initialised at {shown}: run `readiness vault init`")
    try:
        extras["vault"] = Vault.open(url, key_source_from_spec(spec or None, environ), clock)
    except KeyUnavailable as exc:
        return _vault_problem(extras, "key", str(exc))
    except VaultError as exc:
        if "no vault yet" in str(exc):
            return _vault_problem(
                extras, "not_initialised", f"no vault initialised at {shown}: run `readiness vault init`"
            )
        return _vault_problem(extras, "database", str(exc))
    except Exception as exc:  # the sweep goes on; the vault kinds report it
        return _vault_problem(extras, "database", f"could not open the vault at {shown} ({type(exc).__name__})")
    return extras


def close_vault_extras(extras: Mapping[str, Any]) -> None:
    """Close the vault :func:`vault_extras` opened (zeroing its cached keys), if it opened one."""
    vault = extras.get("vault")
    if vault is not None:
        vault.close()


def _vault_problem(extras: dict[str, Any], kind: str, message: str) -> dict[str, Any]:
    extras["vault_problem"], extras["vault_problem_kind"] = message, kind
    return extras


def _sweep_actor(spec: str, extras: dict[str, Any]) -> None:
    """Put the actor ``NAME:ROLE[:TENANT,...]`` in ``extras["vault_actor"]``, or say why not."""
    from vault.rbac import Actor, Role

    name, _, rest = spec.partition(":")
    role, _, tenants = rest.partition(":")
    try:
        scope = frozenset(t.strip() for t in tenants.split(",") if t.strip()) or None
        extras["vault_actor"] = Actor(name.strip(), Role(role.strip().lower()), scope)
    except ValueError as exc:
        roles = ", ".join(r.value for r in Role)
        extras["vault_actor_problem"] = f"TOKEN_VAULT_ACTOR must be NAME:ROLE[:TENANT,...] (role: {roles}): {exc}"


def sweep_with_vault(manifest: Manifest, *, store: Store | None, db_url: str | None = None, **kwargs: Any) -> Run:
    """:func:`sweep` with the token vault opened for the vault-reading kinds, then closed.

    What the dashboard's "Run checks now" calls; the vault comes from ``TOKEN_VAULT_DB_URL`` (else
    ``db_url``) and the key source in the environment. A vault that cannot open never fails the sweep:
    the vault checks report why.
    """
    environ = kwargs.pop("environ", None)
    env, _ = resolve_env(manifest, environ=environ)
    extras = vault_extras(env, db_url=db_url, clock=kwargs.get("clock"))
    try:
        return sweep(manifest, store=store, environ=environ, extras={**extras, **kwargs.pop("extras", {})}, **kwargs)
    finally:
        close_vault_extras(extras)
