"""
One scrubber for everything that leaves the process as text: log lines and Sentry events.

What it removes: JWTs and bearer credentials, token-like query parameters, email addresses, our own configured
secrets, and checklist item text registered for the current request (core.context.mark_sensitive).
"""

import re
from collections.abc import Iterable

from django.conf import settings

from . import context, proxy

REDACTED = "[redacted]"

_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")
_AUTH_SCHEME = re.compile(r"\b(Bearer|JWT|Basic)\s+[A-Za-z0-9._~+/=-]{8,}", re.IGNORECASE)
_SECRET_PARAM = re.compile(
    r"(?i)\b(jwt|token|access_token|sharedSecret|secret|password|api_key|apikey|signature)=[^&\s\"']+"
)
_SECRET_JSON = re.compile(
    r"(?i)([\"'](?:sharedSecret|secret|password|token|access_token|jwt|text|email)[\"']\s*:\s*)"
    r"(\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*')"
)
# Any address our validator accepts, not only ASCII ones: Django's validate_email takes international domains
# (bob@exämple.com) and local parts with ! # $ & ' * / = ? ^ ` { | } ~, and a mail server's reply shows an address as
# bytes (\xc3\xa4). Whatever runs of characters that cannot end an address surround an @ (bounded: a long run with no
# address in it costs a linear scan, not a quadratic one). Bare hosts count too (Django accepts someone@localhost).
_NOT_IN_ADDRESS = r"\s@<>()\[\]{},;:\"'`"
_EMAIL = re.compile(rf"[^{_NOT_IN_ADDRESS}]{{1,64}}@[^{_NOT_IN_ADDRESS}/]{{1,255}}")

# Keys whose values are never sent anywhere, in any structure (Sentry request data, frame locals, log extras).
SENSITIVE_KEYS = frozenset(
    {
        "authorization",
        "cookie",
        "set-cookie",
        "jwt",
        "token",
        "access_token",
        "sharedsecret",
        "shared_secret",
        "secret",
        "secret_key",
        "password",
        "email",
        "text",
        "item_text",
        "body",
        "data",
        "field_encryption_keys",
        "hubspot_access_token",
        "x-forge-oauth-system",
        "x-forge-oauth-user",
        "proxy-authorization",
        "proxy_headers",
        "proxy_auth",
        "proxy_url",
        "outbound_proxy_url",
    }
)


def _configured_secrets() -> Iterable[str]:
    for name in ("SECRET_KEY", "HUBSPOT_ACCESS_TOKEN", "MARKETPLACE_API_TOKEN", "METRICS_TOKEN"):
        value = getattr(settings, name, "")
        if value:
            yield value
    yield from getattr(settings, "FIELD_ENCRYPTION_KEYS", [])
    yield from proxy.secrets(getattr(settings, "OUTBOUND_PROXY_URL", ""))


def scrub_text(text: str) -> str:
    if not text:
        return text
    # Exact values first: a registered item text may itself look like an email or a token.
    for value in sorted((*context.sensitive_values.get(), *_configured_secrets()), key=len, reverse=True):
        if value and value in text:
            text = text.replace(value, REDACTED)
    text = _JWT.sub("[jwt]", text)
    text = _AUTH_SCHEME.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    text = _SECRET_PARAM.sub(lambda m: f"{m.group(1)}={REDACTED}", text)
    text = _SECRET_JSON.sub(lambda m: f'{m.group(1)}"{REDACTED}"', text)
    return _EMAIL.sub("[email]", text) if "@" in text else text


def scrub_data(value, depth: int = 0):
    """Scrub any JSON-like structure: sensitive keys lose their values, every string is scrubbed."""
    if depth > 20:
        return REDACTED
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, dict):
        return {
            k: (REDACTED if isinstance(k, str) and k.lower() in SENSITIVE_KEYS else scrub_data(v, depth + 1))
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return type(value)(scrub_data(v, depth + 1) for v in value)
    return value
