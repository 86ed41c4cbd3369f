"""Local HTTP stand-ins of the providers Readiness talks to, for the demo and the tests.

:class:`StandinServer` (``server.py``) routes ``/HOST/PATH`` to the provider registered for ``HOST``;
one module per provider holds its stand-in (``secretmanager.py``: Google Secret Manager). Nothing here
runs at import time.
"""

from checks.standins.server import Controllable, Provider, Response, StandinServer, json_response

__all__ = ["Controllable", "Provider", "Response", "StandinServer", "json_response"]
