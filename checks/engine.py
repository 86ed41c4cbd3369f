"""One sweep end to end: resolve the environment, run the checks, decide, record.

This is what the CLI, the dashboard, ``readiness watch`` and the notebooks call.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING, Any

import httpx

from checks.clock import Clock, SystemClock
from checks.environment import resolve_env
from checks.manifest import Manifest
from checks.registry import Registry, get_registry
from checks.run import Run
from checks.runner import ProgressCallback, run_checks, select_checks
from checks.verdict import decide

if TYPE_CHECKING:
    from checks.history import Store

__all__ = ["sweep"]


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

    Raises :class:`~checks.errors.ManifestError` for a manifest the registry cannot run (unknown kind,
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
    results = asyncio.run(
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
