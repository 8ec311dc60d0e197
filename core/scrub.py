"""
One scrubber for everything that leaves the process as text: log lines and Sentry events.

What it removes: JWTs and bearer credentials, token-like query parameters, email addresses, our own configured
secrets, and checklist item text registered for the current request (core.context.mark_sensitive).
"""

import functools
import re
from collections.abc import Callable, Iterable
from urllib.parse import unquote, urlsplit

from django.conf import settings

from . import context, proxy

REDACTED = "[redacted]"

# Credentials written into a URL (scheme://user:password@host): a database's, a cache's, a broker's, a proxy's, a
# Sentry DSN's key. Only the userinfo goes; the scheme and the host still say which server it was.
_URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@?#\"'<>]+@")
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

# Names that say a credential whatever comes before them: a Forge call's `system_token` and `user_token`, a
# `client_secret`, `EMAIL_HOST_PASSWORD`. Matched by the end of the name (`token_id`, `tokens` are not one): the
# values behind them may be opaque, with no shape the patterns below would know (a Forge token need not be a JWT).
_SENSITIVE_SUFFIXES = ("token", "secret", "password", "authorization")


def sensitive_key(name) -> bool:
    """Whether values under this name (a dict key, a variable, a log field, a header) are never sent anywhere."""
    if not isinstance(name, str):
        return False
    lowered = name.lower()
    return lowered in SENSITIVE_KEYS or lowered.endswith(_SENSITIVE_SUFFIXES)


# Settings holding a URL whose userinfo is a credential (README's settings table). Their passwords are scrubbed as
# values too, wherever they turn up without their URL (a driver's error, a parsed DATABASES or CACHES).
URL_SETTINGS = ("DATABASE_URL", "CACHE_URL", "REDIS_URL", "RATE_LIMIT_REDIS_URL", "SENTRY_DSN")


@functools.lru_cache(maxsize=16)
def url_secrets(value: str, *, username: bool = False) -> tuple[str, ...]:
    """What of a URL the logs must never hold: its password, as written and as decoded (and its username when that is
    the credential: a Sentry DSN's key). Kept per value, as proxy.secrets: the scrubber asks on every log line."""
    if not value or "@" not in value:
        return ()
    try:
        parts = urlsplit(value)
        written = [parts.password or "", parts.username or ""] if username else [parts.password or ""]
    except ValueError:
        return (value,)  # not a URL we can read: never logged whole
    return tuple({secret for raw in written for secret in (raw, unquote(raw)) if secret})


def _configured_secrets() -> Iterable[str]:
    for name in ("SECRET_KEY", "HUBSPOT_ACCESS_TOKEN", "MARKETPLACE_API_TOKEN", "METRICS_TOKEN", "EMAIL_HOST_PASSWORD"):
        value = getattr(settings, name, "")
        if value and isinstance(value, str):
            yield value
    yield from getattr(settings, "FIELD_ENCRYPTION_KEYS", [])
    yield from getattr(settings, "BACKUP_ENCRYPTION_KEYS", [])
    yield from proxy.secrets(getattr(settings, "OUTBOUND_PROXY_URL", ""))
    for name in URL_SETTINGS:
        yield from url_secrets(getattr(settings, name, "") or "", username=name == "SENTRY_DSN")


def scrub_text(text: str) -> str:
    if not text:
        return text
    # Exact values first: a registered item text may itself look like an email or a token.
    marked = context.sensitive_values.get()
    found = marked.found_in(text) if isinstance(marked, context.Marked) else (v for v in marked if v in text)
    # Longest first: a marked value that holds a shorter one goes whole.
    for value in sorted((*found, *_configured_secrets()), key=len, reverse=True):
        if value and value in text:
            text = text.replace(value, REDACTED)
    text = _URL_USERINFO.sub(lambda m: f"{m.group(1)}{REDACTED}@", text) if "@" in text else text
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
        return {k: (REDACTED if sensitive_key(k) else scrub_data(v, depth + 1)) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return type(value)(scrub_data(v, depth + 1) for v in value)
    return value


def holds_secret(value, *, opaque: Callable[[object], bool] | None = None, depth: int = 0) -> bool:
    """Whether scrub_data would take anything out of this value (a string, or any JSON-like structure of them): a
    non-empty value under a key whose values are never sent, or text holding a secret. The same rules asked as a
    question, for what shows a value whole or not at all (core/reporting.py: Django's error pages and reports).
    `opaque` judges anything else met on the way (an object, say by its repr); without it, such a thing holds none."""
    if depth > 20:
        return True
    if isinstance(value, str | bytes | bytearray):
        # str() as well: a lazy string (a str subclass) is not one to the regular expressions.
        text = bytes(value).decode("utf-8", "replace") if isinstance(value, bytes | bytearray) else str(value)
        return scrub_text(text) != text
    inner = functools.partial(holds_secret, opaque=opaque, depth=depth + 1)
    if isinstance(value, dict):
        return any(
            (sensitive_key(key) and item not in (None, "", b"", [], {}, ())) or inner(key) or inner(item)
            for key, item in value.items()
        )
    if isinstance(value, list | tuple | set | frozenset):
        return any(inner(item) for item in value)
    if value is None or isinstance(value, int | float):
        return False
    return opaque(value) if opaque else False
