"""What the two HTML renderers share: the status and verdict classes and the escaping helpers.

:mod:`checks.presentation.report_html` (the self-contained report page) and
:mod:`checks.presentation.notebook_html` (Jupyter's ``_repr_html_``) both draw badges and banners; every
value goes through :func:`esc` (``html.escape`` with quotes) before it reaches markup.
"""

from __future__ import annotations

from html import escape

from checks.core.run import Decision
from checks.core.status import Status

__all__ = ["STATE_CLASS", "VERDICT_CLASS", "badge", "esc"]

VERDICT_CLASS = {Decision.GO: "go", Decision.CONDITIONAL: "conditional", Decision.NO_GO: "nogo"}
STATE_CLASS = {"NOT STARTED": "fail", "PARTIAL": "warn", "NEEDS VALIDATION": "pending", "READY": "pass"}


def esc(text: object) -> str:
    """``text`` as HTML-safe text (quotes too, so it may sit in an attribute)."""
    return escape(str(text), quote=True)


def badge(status: Status | str, text: str | None = None) -> str:
    """A status badge: the word written out (never colour alone), classed by the status."""
    value = status.value if isinstance(status, Status) else status
    return f'<span class="badge {esc(value)}">{esc(text or value)}</span>'
