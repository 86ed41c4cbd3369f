"""The check-kind registry, built on demand by :func:`get_registry` (never at import).

Built-in kinds come from the modules named in :data:`BUILTIN_MODULES`; third-party kinds from the entry-point group
``readiness.checks``, each entry point naming a module (or one marked function). A plugin that fails to
import is recorded in :attr:`Registry.failures` and reported by ``readiness plugins``; it does not stop
the other kinds from loading.

The entry points are read when first needed: a kind no built-in module gives, or the whole list
(:attr:`Registry.kinds`, :attr:`Registry.failures`). A manifest of built-in kinds alone (the default one) is
validated and run without scanning every installed distribution's metadata.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Iterable
from dataclasses import dataclass, replace
from types import ModuleType
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from checks.core.errors import CheckError, ManifestError
from checks.core.hookspecs import ENTRY_POINT_GROUP, KIND_ATTR, KindSpec
from checks.core.manifest import CheckSpec, Manifest
from checks.core.manifest_load import _loc, _message

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint

__all__ = ["PluginFailure", "Registry", "get_registry"]


@dataclass(frozen=True)
class PluginFailure:
    """An entry point that could not be loaded, and why (exception type and message)."""

    name: str
    target: str
    distribution: str
    error: str


class Registry:
    """Check kinds by name, and the plugins that failed to load. ``plugins`` names an entry-point group read
    when first needed (see the module's docstring); None: only what is added."""

    def __init__(self, plugins: str | None = None) -> None:
        self._kinds: dict[str, KindSpec] = {}
        self._failures: list[PluginFailure] = []
        self._plugins = plugins

    @property
    def kinds(self) -> dict[str, KindSpec]:
        """Every kind, the plugins' included."""
        self._load_plugins()
        return self._kinds

    @property
    def failures(self) -> list[PluginFailure]:
        """The plugins that failed to load."""
        self._load_plugins()
        return self._failures

    def _load_plugins(self) -> None:
        group, self._plugins = self._plugins, None
        if group is not None:
            from importlib.metadata import entry_points

            for ep in entry_points(group=group):
                _load_entry_point(self, ep)

    def _find(self, name: str) -> KindSpec | None:
        spec = self._kinds.get(name)
        return spec if spec is not None else self.kinds.get(name)

    def add(self, spec: KindSpec) -> None:
        existing = self._kinds.get(spec.name)
        if existing is not None and existing.run is not spec.run:
            raise CheckError(f"check kind {spec.name!r} from {spec.source} is already registered by {existing.source}")
        self._kinds[spec.name] = spec

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
        spec = self._find(name)
        if spec is None:
            known = ", ".join(sorted(self.kinds)) or "none"
            raise CheckError(f"unknown check kind {name!r} (known: {known}); see `readiness plugins`")
        return spec

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
            spec = self._find(check.kind)
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
    registry = Registry(entry_points_group if load_plugins else None)
    for name in BUILTIN_MODULES:
        registry.add_module(importlib.import_module(name), "builtin")
    return registry


def _load_entry_point(registry: Registry, ep: EntryPoint) -> None:
    dist = ep.dist.name if ep.dist is not None else "?"
    source = f"entry point {ep.name} ({dist})"
    try:
        target = ep.load()
        if registry.add_module(target, source) == 0:
            raise CheckError(f"{ep.value} defines no function marked with @check_kind")
    except Exception as exc:  # a broken plugin is reported, never fatal
        registry._failures.append(PluginFailure(ep.name, ep.value, dist, f"{type(exc).__name__}: {exc}"))
