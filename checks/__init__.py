"""Readiness: a live go/no-go view of a release's infrastructure prerequisites.

The public surface the CLI, the dashboard and the notebooks use. Importing this package touches neither
the network, the disk nor the check registry (that is built by :func:`get_registry` when asked).
History loaders live in :mod:`checks.storage.history` (they import pandas and SQLAlchemy).
"""

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
from checks.core.version import __version__ as __version__
from checks.shell.sweep import sweep

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
