"""
Calls from us to a tenant's Jira: Connect (HS256 JWT as the app, qsh of the exact request) or Forge (the app
system token against app.apiBaseUrl). Timeouts, bounded retries with backoff on 429/5xx, one clear error type.
"""

import logging
import math
import random
import time
from urllib.parse import urlencode, urlparse

import httpx
import jwt
from django.conf import settings

from core import jsonbody, outbound
from core.retry import retry_after_seconds

from .models import Tenant
from .qsh import query_string_hash

logger = logging.getLogger(__name__)

RETRYABLE = {429, 500, 502, 503, 504}
MAX_ATTEMPTS = 4
MAX_RETRY_AFTER_SECONDS = 30.0
APP_TOKEN_TTL_SECONDS = 180


class JiraError(Exception):
    def __init__(self, message: str, status: int | None = None, retryable: bool = False, retry_after: str = ""):
        super().__init__(message)
        self.status = status
        self.retryable = retryable
        self.retry_after = retry_after


def retry_after_header(exc: JiraError, default: int = 30) -> str:
    """The Retry-After we answer when a call to Jira failed: Jira's own ask when it gave one (whole seconds, at most
    an hour), else `default`. Telling our caller less than Jira asked of us only brings its retry back too soon."""
    asked = retry_after_seconds(exc.retry_after)
    return str(default if asked is None else max(1, math.ceil(asked)))  # asked: at most an hour (core.retry)


class JiraClient:
    """Calls as the app: the Forge system token where the site has one, else a Connect JWT. `connect=True` insists on
    the Connect JWT (an app server call that Jira treats as the Connect app, e.g. the bulk permission check for
    another user). `user_token` + `api_base_url` call as one Forge user instead (the FIT's x-forge-oauth-user)."""

    def __init__(
        self,
        tenant: Tenant,
        *,
        timeout: float | None = None,
        backoff: float = 0.5,
        connect: bool = False,
        user_token: str = "",
        api_base_url: str = "",
    ):
        self.tenant = tenant
        # The most one exchange with Jira may take, all of it, however slowly the answer comes (core/outbound.py);
        # each attempt of a retried call has its own.
        self.timeout = timeout or settings.OUTBOUND_DEADLINE_SECONDS
        self.backoff = backoff
        self.connect = connect
        self.user_token = user_token
        self.api_base_url = api_base_url

    def _auth(self, method: str, path: str, query: dict) -> tuple[str, str]:
        """(base URL, Authorization header) for this request."""
        if self.user_token:
            if not self.api_base_url:
                raise JiraError("a user token needs the FIT's apiBaseUrl", retryable=False)
            return self.api_base_url.rstrip("/"), f"Bearer {self.user_token}"
        use_forge = self.tenant.forge_api_base_url and not self.connect
        system_token = self.tenant.forge_system_token() if use_forge else ""
        if system_token:
            return self.tenant.forge_api_base_url.rstrip("/"), f"Bearer {system_token}"
        secret = self.tenant.shared_secret if not self.tenant.is_forge_only else ""
        if not secret:
            raise JiraError("no usable credentials for this tenant", retryable=False)
        base = self.tenant.base_url.rstrip("/")
        now = int(time.time())
        claims = {
            "iss": settings.APP_KEY,
            "iat": now,
            "exp": now + APP_TOKEN_TTL_SECONDS,
            "qsh": query_string_hash(method, path, list(query.items()), urlparse(base).path),
        }
        return base, f"JWT {jwt.encode(claims, secret, algorithm='HS256')}"

    def request(
        self, method: str, path: str, *, query: dict | None = None, json=None, attempts: int = MAX_ATTEMPTS
    ) -> httpx.Response:
        """`attempts=1` hands every failure to the caller (who may want to honour a long Retry-After itself)."""
        query = {k: str(v) for k, v in (query or {}).items()}
        last_error: JiraError | None = None
        for attempt in range(1, attempts + 1):
            base, authorization = self._auth(method, path, query)
            url = f"{base}{path}" + (f"?{urlencode(query)}" if query else "")
            try:
                response = outbound.request(
                    method,
                    url,
                    within=self.timeout,
                    json=json,
                    headers={"Authorization": authorization, "Accept": "application/json"},
                )
            except httpx.TimeoutException:
                last_error = JiraError(f"{method} {path}: timed out", retryable=True)
                delay = self._backoff(attempt)
            except httpx.TransportError as exc:
                last_error = JiraError(f"{method} {path}: {type(exc).__name__}", retryable=True)
                delay = self._backoff(attempt)
            else:
                if response.status_code < 300:
                    return response
                if response.status_code < 400:
                    # A redirect (a renamed site's old address, a proxy's sign-in page) is not Jira's answer: nothing
                    # was written or read. Taken as success, a push counted as written (the sweep never made it up)
                    # and a personal data report as made. Not followed: the JWT's qsh binds this path on this site,
                    # and the Authorization header must not go wherever a Location points. Not retried either: the
                    # same address redirects again; the caller's own later try (the sweep, the next run) may not.
                    raise JiraError(f"{method} {path}: HTTP {response.status_code} (a redirect)", response.status_code)
                retryable = response.status_code in RETRYABLE
                last_error = JiraError(
                    f"{method} {path}: HTTP {response.status_code}",
                    response.status_code,
                    retryable,
                    response.headers.get("Retry-After", ""),
                )
                if not retryable:
                    raise last_error
                delay = self._delay(attempt, response.headers.get("Retry-After"))
                if delay is None:
                    # Jira asked for a longer wait than this call may hold its caller: asking again sooner only
                    # draws another 429. The caller honours it (the push's task retries after it; a request answers).
                    raise last_error
            if attempt < attempts:
                logger.info("jira call retrying", extra={"attempt": attempt, "delay": round(delay, 2)})
                time.sleep(delay)
        raise last_error

    def _delay(self, attempt: int, retry_after: str | None) -> float | None:
        """The wait before the next attempt; None when Jira asked for more than this client waits in line: at most
        MAX_RETRY_AFTER_SECONDS, and no longer than one of its calls may take (a request's call to Jira has a few
        seconds: sleeping 30 held the user, then asked Jira again long before the time it gave)."""
        asked = retry_after_seconds(retry_after)
        if asked is not None:
            return asked if asked <= min(MAX_RETRY_AFTER_SECONDS, self.timeout) else None
        return self._backoff(attempt)

    def _backoff(self, attempt: int) -> float:
        # Exponential backoff with full jitter, so many workers do not retry in lockstep.
        return random.uniform(0, self.backoff * 2 ** (attempt - 1))

    def request_json(self, method: str, path: str, **kwargs):
        """request(), and the answer's JSON read by the project's one parser (core.jsonbody): an answer that is not
        JSON, or nests thousands deep (httpx's .json() then raised RecursionError, which no caller expected and the
        request answered 500), is a JiraError like any other bad answer."""
        response = self.request(method, path, **kwargs)
        try:
            return jsonbody.loads(response.content)
        except jsonbody.BadJson:
            raise JiraError(f"{method} {path}: the answer is not JSON", response.status_code) from None

    def set_issue_property(self, issue_id: str, key: str, value: dict) -> None:
        self.request("PUT", f"/rest/api/3/issue/{issue_id}/properties/{key}", json=value)
