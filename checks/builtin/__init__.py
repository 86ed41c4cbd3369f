"""The built-in check kinds, one module each. The registry imports them; importing this does not."""

MODULES = (
    "checks.builtin.env",
    "checks.builtin.http",
    "checks.builtin.manual",
    "checks.builtin.twilio",
    "checks.builtin.retell",
    "checks.builtin.oauth_google",
    "checks.builtin.ghl",
    "checks.builtin.oauth_microsoft",
    "checks.builtin.vault",
)
