"""What every front door shares: reading a JWT's header and claims, verifying it with our leeway and time rules, reading
the optional claims Atlassian sends, and the qsh check of Connect tokens (HS256 requests and signed installs)."""

import hmac
import math
import re
import time
from functools import lru_cache
from typing import Any
from urllib.parse import urlparse

import jwt
from django.conf import settings
from django.http import HttpRequest

from core.identifiers import is_jira_id
from core.ttlcache import TTLCache

from ..qsh import CONTEXT_QSH, query_string_hash
from ..types import AuthError, IssueRef

# Always fullmatch: `$` would admit a trailing newline, which then reaches the key URL.
KID_PATTERN = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}")
MAX_TOKEN_LENGTH = 8192
MAX_CLAIM_STRING = 255  # installationId, cloudId, issue keys: longer is not something Atlassian sends
# Seconds since the epoch that a time claim may hold: a finite number before the year 5000 (datetime's range,
# and int() of an infinite float raises).
MAX_TIMESTAMP = 95_617_584_000

# A JWT's header or claims: a JSON object, whose values each door checks for shape before it trusts them.
Claims = dict[str, Any]


def _header(token: str) -> Claims:
    if not token or len(token) > MAX_TOKEN_LENGTH:
        raise AuthError("missing or oversized token")
    try:
        return _read_header(token)
    except jwt.PyJWTError as exc:
        raise AuthError(f"malformed token header: {type(exc).__name__}") from None


def _unverified_claims(token: str) -> Claims:
    if len(token) > MAX_TOKEN_LENGTH:  # refused by _header anyway; never kept in the cache below
        raise AuthError("oversized token")
    try:
        return _read_claims(token)
    except jwt.PyJWTError as exc:
        raise AuthError(f"malformed token claims: {type(exc).__name__}") from None


# A request reads its token's header and claims before verifying it (which key, which door), and the same token
# comes back on every call of a panel session: each is parsed once, not once per look (issue #21: three parses per
# read). Pure functions of the string; callers only read the dicts. Only the signature check runs every time.
@lru_cache(maxsize=1024)
def _read_header(token: str) -> Claims:
    return jwt.get_unverified_header(token)


@lru_cache(maxsize=1024)
def _read_claims(token: str) -> Claims:
    return jwt.decode(token, options={"verify_signature": False})


def _check_iat(claims: Claims) -> None:
    # PyJWT rejects a future iat too, but our leeway rule is stated here so it cannot drift with the library.
    iat = claims.get("iat")
    if not isinstance(iat, int | float) or iat > time.time() + settings.JWT_LEEWAY_SECONDS:
        raise AuthError("iat missing or in the future")


def _check_times(claims: Claims) -> None:
    """Time claims are plain finite numbers in datetime's range: not strings, booleans, NaN or infinity (PyJWT reads
    "123" and True as numbers, and our own code turns these claims into datetimes)."""
    for name in ("exp", "iat", "nbf"):
        if name not in claims:
            continue
        value = claims[name]
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise AuthError(f"{name} is not a number")
        if not math.isfinite(value) or not 0 <= value < MAX_TIMESTAMP:
            raise AuthError(f"{name} is out of range")


def _decode(token: str, key: Any, algorithm: str, *, required: list[str], **kwargs: Any) -> Claims:
    # A panel sends the same token on every call for minutes (a poll a second): one that verified with this very key,
    # algorithm and checks verifies again, except for the clock, so the clock is checked again and the rest is kept.
    # Only secrets (HS256) key the cache: RS256 key objects cannot be hashed, and a failure is never kept.
    if not isinstance(key, str | bytes) or not all(isinstance(v, str) for v in kwargs.values()):
        claims = _verify(token, key, algorithm, required, kwargs)
    else:
        cache_key = (token, key, algorithm, tuple(required), tuple(sorted(kwargs.items())))
        claims = _verified.get(cache_key, lambda: _verify(token, key, algorithm, required, kwargs))  # type: ignore[assignment]
    _check_clock(claims)
    _check_iat(claims)
    return claims


# Bounded like every per-process cache (core/ttlcache.py); a token outlives no Connect or panel token's lifetime here.
VERIFIED_SECONDS = 900
_verified: TTLCache[Claims] = TTLCache(lambda: VERIFIED_SECONDS, max_entries=1024)


def _verify(token: str, key: Any, algorithm: str, required: list[str], kwargs: dict[str, Any]) -> Claims:
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=[algorithm],
            leeway=settings.JWT_LEEWAY_SECONDS,
            options={"verify_aud": "audience" in kwargs, "require": required},
            **kwargs,
        )
    except (jwt.PyJWTError, ValueError, TypeError, OverflowError) as exc:
        # A validly signed token may still carry claims the library cannot read: a 401 like any other.
        raise AuthError(f"token rejected: {type(exc).__name__}") from None
    _check_times(claims)
    return claims


def _check_clock(claims: Claims) -> None:
    """exp and nbf against the clock now, with PyJWT's rules and our leeway (a kept token is checked again here)."""
    now = time.time()
    leeway = settings.JWT_LEEWAY_SECONDS
    if "exp" in claims and claims["exp"] <= now - leeway:
        raise AuthError("token rejected: ExpiredSignatureError")
    if "nbf" in claims and claims["nbf"] > now + leeway:
        raise AuthError("token rejected: ImmatureSignatureError")


def _object(value: object, what: str) -> Claims:
    """A claim that must be a JSON object when present; None or absent reads as empty."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise AuthError(f"{what} is not an object")
    return value


def _claim_text(value: object, what: str, *, numeric: bool = False) -> str:
    """An optional short string claim ("" when absent). Jira sends some ids as numbers; those are read as text."""
    if value is None or value == "":
        return ""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        value = str(value)
    if not isinstance(value, str) or len(value) > MAX_CLAIM_STRING or not value.isprintable():
        raise AuthError(f"{what} is not a short string")
    if numeric and not is_jira_id(value):
        raise AuthError(f"{what} is not a Jira id")
    return value


def _issue_ref(issue: Claims, project: Claims, *, type_id: object) -> IssueRef | None:
    if not issue.get("id"):
        return None
    return IssueRef(
        id=_claim_text(issue["id"], "issue id", numeric=True),
        key=_claim_text(issue.get("key"), "issue key"),
        project_id=_claim_text(project.get("id"), "project id", numeric=True),
        issue_type_id=_claim_text(type_id, "issue type id", numeric=True),
    )


def expected_qsh(request: HttpRequest) -> str:
    # method is None only on a request built by hand, never one Django serves; such a request matches no qsh.
    return query_string_hash(request.method or "", request.path, request.GET, _path_of(settings.BASE_URL))


@lru_cache(maxsize=4)
def _path_of(url: str) -> str:
    return urlparse(url).path


def _check_qsh(claims: Claims, request: HttpRequest, *, allow_context_qsh: bool) -> None:
    qsh = claims.get("qsh")
    if not isinstance(qsh, str):
        raise AuthError("qsh missing")
    if qsh == CONTEXT_QSH:
        if not allow_context_qsh:
            raise AuthError("context token on a qsh-only endpoint")
        return
    # As bytes: compare_digest raises TypeError on str with non-ASCII characters (a 500 for a signed odd qsh).
    if not hmac.compare_digest(qsh.encode("utf-8", "surrogatepass"), expected_qsh(request).encode()):
        raise AuthError("qsh mismatch")
