"""Readiness: a live go/no-go view of a release's infrastructure prerequisites.

The public surface the CLI, the dashboard and the notebooks use. Importing this package touches neither
the network, the disk nor the check registry (that is built by :func:`get_registry` when asked).
History loaders live in :mod:`checks.history` (they import pandas and SQLAlchemy).
"""

__version__ = "0.1.0"  # before the imports: checks.runner reads it for the User-Agent

from checks.clock import Clock, FixedClock, SystemClock
from checks.engine import sweep
from checks.errors import CheckError, ManifestError, ReadinessError
from checks.facts import Attestation, Waiver
from checks.hookspecs import CheckContext, check_kind
from checks.manifest import CheckSpec, Manifest, load_manifest, parse_manifest
from checks.redact import fingerprint
from checks.registry import get_registry
from checks.result import CheckResult, Condition, Result
from checks.run import Decision, Run, Verdict
from checks.status import Severity, Status

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
