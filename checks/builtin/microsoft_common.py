"""What the ``oauth_microsoft`` probes share: Microsoft's endpoints (the identity platform, Graph), the
Azure Portal page the fixes point to, and the thresholds and patterns more than one probe reads."""

from __future__ import annotations

import re

LOGIN = "https://login.microsoftonline.com"
DISCOVERY_URL = LOGIN + "/{tenant}/v2.0/.well-known/openid-configuration"
TOKEN_URL = LOGIN + "/{tenant}/oauth2/v2.0/token"
GRAPH_PREFIX = "https://graph.microsoft.com/"
GRAPH_DEFAULT_SCOPE = GRAPH_PREFIX + ".default"
APPLICATION_URL = GRAPH_PREFIX + "v1.0/applications(appId='{app_id}')"
APPLICATION_SELECT = "web,spa,publicClient,passwordCredentials,displayName"
EVENTS_URL = GRAPH_PREFIX + "v1.0/me/events"
PORTAL = "Azure Portal › App registrations"
SHARED_TENANTS = frozenset({"common", "organizations", "consumers"})
SECRET_WARN_DAYS = 30
GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
