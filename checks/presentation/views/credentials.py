"""The vault page's warning: active credentials expiring soon (or already expired)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:
    pass


def expiring_credentials(creds: pd.DataFrame, now: datetime, within: timedelta = timedelta(hours=24)) -> pd.DataFrame:
    """Active credentials (a frame with ``state`` and ``expires_at``) expiring within ``within`` of ``now``,
    soonest first; already expired ones included."""
    if creds.empty:
        return creds
    at = pd.to_datetime(creds["expires_at"], utc=True)
    keep = (creds["state"] == "active") & at.notna() & (at <= pd.Timestamp(now + within))
    return creds[keep].assign(expires_at=at[keep]).sort_values("expires_at").reset_index(drop=True)
