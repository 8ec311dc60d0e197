"""OUTBOUND_PROXY_URL: the one forward proxy every outbound HTTP call goes through when it is set (README).

Three clients take it, each in its own shape: httpx (core/outbound.py: Jira, Atlassian's keys, the Marketplace),
urllib3 under hubspot-api-client (contacts/hubspot.py) and urllib3 under sentry-sdk (core/sentry.py). urllib3 takes no
credentials from a proxy URL, so they are kept apart here and sent as a Proxy-Authorization header. Nothing reads
HTTP_PROXY, HTTPS_PROXY or NO_PROXY: the proxy is this setting or none.

No Django import: settings.py reads this before settings exist (Sentry starts there).
"""

import functools
from base64 import b64encode
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit


class BadProxyURL(ValueError):
    """Why a value is not a proxy URL. The message never holds the value: it may hold a password."""


@dataclass(frozen=True)
class Proxy:
    url: str  # scheme://host[:port], without credentials
    scheme: str
    host: str
    port: int | None
    username: str = field(default="", repr=False)
    password: str = field(default="", repr=False)

    @property
    def credentials(self) -> tuple[str, str] | None:
        return (self.username, self.password) if self.username or self.password else None

    @property
    def headers(self) -> dict[str, str]:
        """The Proxy-Authorization header a urllib3 ProxyManager needs (Basic, as httpx sends it), or none."""
        if self.credentials is None:
            return {}
        token = b64encode(f"{self.username}:{self.password}".encode()).decode("ascii")
        return {"Proxy-Authorization": f"Basic {token}"}


def parse(value: str) -> Proxy | None:
    """The proxy a value names, None for an empty one (calls go out directly). Raises BadProxyURL."""
    if not value:
        return None
    if any(char.isspace() or ord(char) < 32 or ord(char) == 127 for char in value):
        raise BadProxyURL("holds spaces or control characters")
    try:
        parts = urlsplit(value)
        port = parts.port  # a port that is not a number from 0 to 65535 raises here
    except ValueError:
        raise BadProxyURL("is not a URL") from None
    if parts.scheme not in ("http", "https"):
        raise BadProxyURL("must be an http:// or https:// URL")
    if not parts.hostname:
        raise BadProxyURL("names no host")
    if parts.path not in ("", "/") or parts.query or parts.fragment or "?" in value or "#" in value:
        # A proxy is a host and a port; a path would be dropped by one client and sent by another.
        raise BadProxyURL("must hold no path, query or fragment")
    if port == 0:
        raise BadProxyURL("names port 0")
    host = parts.hostname
    netloc = f"[{host}]" if ":" in host else host
    url = f"{parts.scheme}://{netloc}" + (f":{port}" if port else "")
    return Proxy(
        url=url,
        scheme=parts.scheme,
        host=host,
        port=port,
        username=unquote(parts.username or ""),
        password=unquote(parts.password or ""),
    )


@functools.lru_cache(maxsize=8)
def secrets(value: str) -> tuple[str, ...]:
    """What of a proxy URL the logs must never hold: its password, as written and as decoded. Kept per value: the
    scrubber asks on every log line and every Sentry event, and the setting seldom changes (tests change it)."""
    try:
        proxy = parse(value)
    except BadProxyURL:
        # Not a URL we would use; still never logged whole (the check that stops the start names no value).
        return (value,) if value else ()
    if proxy is None or not proxy.password:
        return ()
    raw = urlsplit(value).password or ""
    return tuple(secret for secret in {raw, proxy.password} if secret)
