"""Presentation: views, charts, reports, formats and analysis built from runs and history.

Reads :mod:`checks.core` and :mod:`checks.storage`; never writes, never composes the vault or the dashboard.
"""
