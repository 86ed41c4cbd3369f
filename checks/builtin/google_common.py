"""What the ``oauth_google`` probes share: Google's endpoints, the Cloud Console page the fixes point to,
and the answer for a variable that is not set."""

from __future__ import annotations

from checks.core.result import Result

TOKEN_URL = "https://oauth2.googleapis.com/token"
AUTHORIZE_URL = "https://accounts.google.com/o/oauth2/v2/auth"
SERVICE_USAGE_URL = "https://serviceusage.googleapis.com/v1/projects/{project}/services/{service}"
BUSINESS_ACCOUNTS_URL = "https://mybusinessaccountmanagement.googleapis.com/v1/accounts"
CALENDAR_EVENTS_URL = "https://www.googleapis.com/calendar/v3/calendars/{calendar}/events"
CREDENTIALS_PAGE = "Google Cloud Console › APIs & Services › Credentials"


def missing_variable(name: str, value: str | None) -> Result | None:
    if value:
        return None
    return Result.failed(
        f"{name} is not set: copy it from {CREDENTIALS_PAGE}",
        remediation=f"Set {name} in the process environment or the .env file next to the manifest",
        variable=name,
    )
