"""Readiness: a live go/no-go view of a release's infrastructure prerequisites.

The public surface the CLI, the dashboard and the notebooks use. Importing this package touches neither
the network, the disk nor the check registry (that is built by :func:`get_registry` when asked).
History loaders live in :mod:`checks.storage.history` (they import pandas and SQLAlchemy).

The names below are loaded on first use (PEP 562, as in :mod:`vault`): ``import checks.shell.cli`` for
``readiness --help`` must not pay for the engine, httpx and the sweep it does not run.
"""

import importlib as _importlib
import typing as _typing

from checks.core.version import __version__ as __version__

if _typing.TYPE_CHECKING:
    from checks.core.clock import Clock, FixedClock, SystemClock
    from checks.core.errors import CheckError, ManifestError, ReadinessError
    from checks.core.facts import Attestation, Waiver
    from checks.core.hookspecs import CheckContext, check_kind
    from checks.core.manifest import CheckSpec, Manifest
    from checks.core.manifest_load import load_manifest, parse_manifest
    from checks.core.redact import fingerprint
    from checks.core.registry import get_registry
    from checks.core.result import CheckResult, Condition, Result
    from checks.core.run import Decision, Run, Verdict
    from checks.core.status import Severity, Status
    from checks.shell.sweep import sweep

_HOME = {
    "Clock": "checks.core.clock",
    "FixedClock": "checks.core.clock",
    "SystemClock": "checks.core.clock",
    "CheckError": "checks.core.errors",
    "ManifestError": "checks.core.errors",
    "ReadinessError": "checks.core.errors",
    "Attestation": "checks.core.facts",
    "Waiver": "checks.core.facts",
    "CheckContext": "checks.core.hookspecs",
    "check_kind": "checks.core.hookspecs",
    "CheckSpec": "checks.core.manifest",
    "Manifest": "checks.core.manifest",
    "load_manifest": "checks.core.manifest_load",
    "parse_manifest": "checks.core.manifest_load",
    "fingerprint": "checks.core.redact",
    "get_registry": "checks.core.registry",
    "CheckResult": "checks.core.result",
    "Condition": "checks.core.result",
    "Result": "checks.core.result",
    "Decision": "checks.core.run",
    "Run": "checks.core.run",
    "Verdict": "checks.core.run",
    "Severity": "checks.core.status",
    "Status": "checks.core.status",
    "sweep": "checks.shell.sweep",
}

__all__ = [
    "Attestation",
    "CheckContext",
    "CheckError",
    "CheckResult",
    "CheckSpec",
    "Clock",
    "Condition",
    "Decision",
    "FixedClock",
    "Manifest",
    "ManifestError",
    "ReadinessError",
    "Result",
    "Run",
    "Severity",
    "Status",
    "SystemClock",
    "Verdict",
    "Waiver",
    "check_kind",
    "fingerprint",
    "get_registry",
    "load_manifest",
    "parse_manifest",
    "sweep",
]


def __getattr__(name: str) -> object:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module 'checks' has no attribute {name!r}")
    value = getattr(_importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
