"""The dashboard's entry point: page settings and the navigation, nothing else (``streamlit run`` this)."""

import logging

import streamlit as st

from dashboard.data import show_database_error
from vault.redact import install

install()  # the root handlers: every library's records are scrubbed before they are written
install(logging.getLogger("streamlit"))  # Streamlit's own handlers do not propagate to the root

st.set_page_config(page_title="Readiness", page_icon="🚦", layout="wide")
page = st.navigation(
    [
        st.Page("overview.py", title="Overview", icon=":material/traffic:", default=True),
        st.Page("checks_page.py", title="Checks", icon=":material/checklist:", url_path="checks"),
        st.Page("trends.py", title="Trends", icon=":material/trending_up:", url_path="trends"),
        st.Page("oauth.py", title="OAuth apps", icon=":material/key:", url_path="oauth"),
        st.Page("vault_page.py", title="Vault", icon=":material/lock:", url_path="vault"),
        st.Page("checkpoint.py", title="Checkpoint", icon=":material/assignment:", url_path="checkpoint"),
        st.Page(
            "notifications_page.py", title="Notifications", icon=":material/notifications:", url_path="notifications"
        ),
    ]
)
try:
    page.run()
except Exception as exc:  # the database went away after the page opened it: one line, not a stack trace
    if not show_database_error(exc):
        raise
