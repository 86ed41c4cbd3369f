"""The check-kind registry, built on demand by :func:`get_registry` (never at import).

Built-in kinds come from the modules named in :data:`BUILTIN_MODULES`; third-party kinds from the entry-point group
``readiness.checks``, each entry point naming a module (or one marked function). A plugin that fails to
import is recorded in :attr:`Registry.failures` and reported by ``readiness plugins``; it does not stop
the other kinds from loading.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from importlib.metadata import EntryPoint, entry_points
from types import ModuleType
from typing import Any

from pydantic import BaseModel, ValidationError

from checks.core.errors import CheckError, ManifestError
from checks.core.hookspecs import ENTRY_POINT_GROUP, KIND_ATTR, KindSpec
from checks.core.manifest import CheckSpec, Manifest
from checks.core.manifest_load import _loc, _message

__all__ = ["PluginFailure", "Registry", "get_registry"]


@dataclass(frozen=True)
class PluginFailure:
    """An entry point that could not be loaded, and why (exception type and message)."""

    name: str
    target: str
    distribution: str
    error: str


@dataclass
class Registry:
    kinds: dict[str, KindSpec] = field(default_factory=dict)
    failures: list[PluginFailure] = field(default_factory=list)

    def add(self, spec: KindSpec) -> None:
        existing = self.kinds.get(spec.name)
        if existing is not None and existing.run is not spec.run:
            raise CheckError(f"check kind {spec.name!r} from {spec.source} is already registered by {existing.source}")
        self.kinds[spec.name] = spec

    def add_module(self, module: ModuleType | Any, source: str) -> int:
        """Register every function in ``module`` marked with ``@check_kind``; returns how many."""
        found = 0
        candidates: Iterable[Any] = vars(module).values() if inspect.ismodule(module) else [module]
        for obj in candidates:
            spec = getattr(obj, KIND_ATTR, None)
            if isinstance(spec, KindSpec):
                self.add(replace(spec, source=source))
                found += 1
        return found

    def get(self, name: str) -> KindSpec:
        try:
            return self.kinds[name]
        except KeyError:
            known = ", ".join(sorted(self.kinds)) or "none"
            raise CheckError(f"unknown check kind {name!r} (known: {known}); see `readiness plugins`") from None

    def validate(self, manifest: Manifest, checks: Iterable[CheckSpec] | None = None) -> dict[str, BaseModel]:
        """Validate each check's ``params`` (default: every check) against its kind; params by check id.

        Raises :class:`ManifestError` naming ``checks[N].kind`` or ``checks[N].params.FIELD``.
        """
        problems: list[tuple[str, str]] = []
        params: dict[str, BaseModel] = {}
        explicit = {c.id: f"checks[{n}]" for n, c in enumerate(manifest.checks)}
        generated = {f"env.{v.name}": f"env[{n}]" for n, v in enumerate(manifest.env)}
        for check in manifest.all_checks if checks is None else checks:
            where = explicit.get(check.id) or generated.get(check.id, check.id)
            spec = self.kinds.get(check.kind)
            if spec is None:
                known = ", ".join(sorted(self.kinds)) or "none"
                problems.append((f"{where}.kind", f"unknown check kind {check.kind!r} (known: {known})"))
                continue
            try:
                params[check.id] = spec.params.model_validate(check.params)
            except ValidationError as exc:
                for err in exc.errors():
                    sub = _loc(err["loc"])
                    problems.append(
                        (f"{where}.params" + (f".{sub}" if sub and not sub.startswith("[") else sub), _message(err))
                    )
        if problems:
            raise ManifestError(manifest.source, problems)
        return params


BUILTIN_MODULES = (
    "checks.builtin.env",
    "checks.builtin.http",
    "checks.builtin.manual",
    "checks.builtin.twilio",
    "checks.builtin.retell",
    "checks.builtin.oauth_google",
    "checks.builtin.ghl",
    "checks.builtin.oauth_microsoft",
    "checks.builtin.vault",
)
"""The built-in kinds' modules, imported by name as entry points are: the kinds build on the core, so the
core names them rather than importing them (the layers contract in pyproject.toml)."""


def get_registry(*, entry_points_group: str = ENTRY_POINT_GROUP, load_plugins: bool = True) -> Registry:
    """Build a registry: the built-in kinds, then every entry point of ``readiness.checks``."""
    registry = Registry()
    for name in BUILTIN_MODULES:
        registry.add_module(importlib.import_module(name), "builtin")
    if load_plugins:
        for ep in entry_points(group=entry_points_group):
            _load_entry_point(registry, ep)
    return registry


def _load_entry_point(registry: Registry, ep: EntryPoint) -> None:
    dist = ep.dist.name if ep.dist is not None else "?"
    source = f"entry point {ep.name} ({dist})"
    try:
        target = ep.load()
        if registry.add_module(target, source) == 0:
            raise CheckError(f"{ep.value} defines no function marked with @check_kind")
    except Exception as exc:  # a broken plugin is reported, never fatal
        registry.failures.append(PluginFailure(ep.name, ep.value, dist, f"{type(exc).__name__}: {exc}"))
