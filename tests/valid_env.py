"""Valid-looking (fake) values for every variable of the STORY-ONB-05 manifest. Not real credentials."""

import base64

VALID_ENV = {
    "GOOGLE_OAUTH_CLIENT_ID": "123456789012-a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p6.apps.googleusercontent.com",
    "GOOGLE_OAUTH_CLIENT_SECRET": "GOCSPX-TestSecretNotReal_0123456",
    "MICROSOFT_OAUTH_CLIENT_ID": "8a1d2f0c-5b7e-4c3a-9d6f-1e2b3c4d5e6f",
    "MICROSOFT_OAUTH_CLIENT_SECRET": "Xy8Q~TestSecretNotReal.abcdefghijklmnopqrs",
    "MICROSOFT_TENANT_ID": "72f988bf-86f1-41af-91ab-2d7cd011db47",
    "RETELL_API_KEY": "key_test0123456789abcdef01234567",
    "TWILIO_ACCOUNT_SID": "AC" + "0123456789abcdef" * 2,
    "TWILIO_AUTH_TOKEN": "fedcba9876543210" * 2,
    "TOKEN_VAULT_URL": "https://vault.dev.maxai-platform.com",
    "TOKEN_VAULT_ENCRYPTION_KEY": base64.b64encode(bytes(range(1, 33))).decode(),
    "GHL_PROXY_URL": "https://ghl-proxy.dev.maxai-platform.com",
    "GHL_PROXY_API_KEY": "ghlproxy_test_0123456789abcdef",
    "GHL_TEST_LOCATION_IDS": "ve9EPM428h8vShlRW1KT,k7RfA2mQ9zXc3LpN8sTb",
}
