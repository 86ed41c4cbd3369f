"""The Streamlit dashboard: ``app.py`` builds the navigation, one module per page, no business logic.

The logic lives in :mod:`checks.presentation.views` and :mod:`checks.presentation.plots` (and :mod:`vault`);
pages only lay it out.
Configuration comes from the environment (see :mod:`dashboard.context`).
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["app_path"]


def app_path() -> Path:
    """The entry point to hand to ``streamlit run``."""
    return Path(__file__).with_name("app.py")
