"""The OAuth 2.0 token endpoints' stand-ins, by the names the tests, the demo and the vault's tests import.

One module per provider flow: :mod:`~checks.standins.oauth_google` (``oauth2.googleapis.com``),
:mod:`~checks.standins.oauth_microsoft` (``login.microsoftonline.com``: token endpoint, OpenID discovery,
the AADSTS answers), :mod:`~checks.standins.oauth_ghl` (``services.leadconnectorhq.com``), on what they share in
:mod:`~checks.standins.oauth_base` (clients, grants, rotation, counters, the token scenarios, the control surface).
"""

from __future__ import annotations

from checks.standins.oauth_base import SCENARIOS
from checks.standins.oauth_ghl import GHL_HOST, GhlOAuthStandin
from checks.standins.oauth_google import GOOGLE_HOST, GoogleOAuthStandin
from checks.standins.oauth_microsoft import AADSTS_ANSWERS, MICROSOFT_HOST, MicrosoftOAuthStandin

__all__ = [
    "AADSTS_ANSWERS",
    "GHL_HOST",
    "GOOGLE_HOST",
    "MICROSOFT_HOST",
    "SCENARIOS",
    "GhlOAuthStandin",
    "GoogleOAuthStandin",
    "MicrosoftOAuthStandin",
]
