"""Connect signed installs: RS256 tokens checked with the key Atlassian serves per kid, fetched and cached here."""

import threading
import time

import httpx
import jwt
from django.conf import settings
from django.http import HttpRequest
from jwt.algorithms import AllowedRSAKeys, RSAAlgorithm

from core import outbound

from ..types import AuthError
from .tokens import KID_PATTERN, Claims, _check_qsh, _decode, _header

# (keys URL, kid) -> (key, fetched at): fetched keys expire, so a key Atlassian revokes stops being trusted.
_install_keys: dict[tuple[str, str], tuple[AllowedRSAKeys, float]] = {}
# (keys URL, kid) -> unknown until: kids Atlassian did not serve, not asked for again for a while.
_install_key_misses: dict[tuple[str, str], float] = {}
# keys URL -> no fetch of an unknown kid before this moment (set by every failed fetch).
_install_key_cooldown: dict[str, float] = {}
_install_keys_lock = threading.Lock()
MAX_REMEMBERED_MISSES = 4096


def install_public_key(kid: str) -> AllowedRSAKeys:
    """The RSA key Atlassian signs installs with. Anyone can send an install with any kid before we know who they
    are, so at most one fetch per cooldown leaves this process for kids we do not hold."""
    if not KID_PATTERN.fullmatch(kid) or ".." in kid:
        raise AuthError("kid has characters outside the allowed set")
    base = settings.ATLASSIAN_INSTALL_KEYS_URL
    cache_key = (base, kid)
    now = time.monotonic()
    with _install_keys_lock:
        cached = _install_keys.get(cache_key)
        if cached is not None and now - cached[1] < settings.ATLASSIAN_INSTALL_KEY_CACHE_SECONDS:
            return cached[0]
        if _install_key_misses.get(cache_key, 0.0) > now:
            raise AuthError(f"install key {kid} is known to be unknown")
        if _install_key_cooldown.get(base, 0.0) > now:
            raise AuthError("install key fetch cooling down after a failed one")
        # Taken before the fetch, so concurrent requests with made-up kids do not all go out at once; a success
        # gives the slot back.
        _install_key_cooldown[base] = now + settings.ATLASSIAN_INSTALL_KEY_COOLDOWN_SECONDS
    try:
        key = _fetch_install_key(base, kid)
    except AuthError:
        with _install_keys_lock:
            if len(_install_key_misses) >= MAX_REMEMBERED_MISSES:
                _install_key_misses.clear()  # a flood of made-up kids: the cooldown still holds the line
            _install_key_misses[cache_key] = time.monotonic() + settings.ATLASSIAN_INSTALL_KEY_MISS_SECONDS
            _install_key_cooldown[base] = time.monotonic() + settings.ATLASSIAN_INSTALL_KEY_COOLDOWN_SECONDS
        raise
    with _install_keys_lock:
        _install_key_cooldown.pop(base, None)
        _install_keys[cache_key] = (key, time.monotonic())
    return key


def _fetch_install_key(base: str, kid: str) -> AllowedRSAKeys:
    url = f"{base.rstrip('/')}/{kid}"
    try:
        # Within a short deadline: the install request waits on it, and a keys server trickling its answer must not
        # hold that request (and its worker) for longer.
        response = outbound.request("GET", url, within=settings.OUTBOUND_KEYS_DEADLINE_SECONDS)
    except (httpx.HTTPError, httpx.InvalidURL, ValueError) as exc:
        # InvalidURL is not an HTTPError: a malformed keys URL (or kid) must be a 401 too, never a 500.
        raise AuthError(f"install key fetch failed: {type(exc).__name__}") from None
    if response.status_code != 200:
        raise AuthError(f"install key {kid} not found ({response.status_code})")
    try:
        return RSAAlgorithm(RSAAlgorithm.SHA256).prepare_key(response.text)
    except (jwt.PyJWTError, ValueError, TypeError, UnicodeDecodeError):
        raise AuthError("install key is not an RSA public key") from None


def verify_install_jwt(
    token: str, request: HttpRequest, *, body_client_key: str | None, body_unreadable: bool = False
) -> Claims:
    """body_unreadable: the body is not JSON, so it has no clientKey to match the issuer with. Everything else is
    checked, so an unsigned request is a 401 whatever its body; the caller then refuses the body (400)."""
    header = _header(token)
    if header.get("alg") != "RS256":
        raise AuthError("signed install must be RS256")
    kid = header.get("kid")
    if not isinstance(kid, str):
        raise AuthError("kid missing")
    claims = _decode(token, install_public_key(kid), "RS256", required=["iss", "iat", "exp", "qsh", "aud"])
    audience = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    if not audience or not isinstance(audience[0], str) or audience[0].rstrip("/") != settings.BASE_URL:
        raise AuthError("aud is not our baseUrl")
    if not isinstance(claims["iss"], str) or (not body_unreadable and claims["iss"] != body_client_key):
        raise AuthError("iss does not match the body clientKey")
    _check_qsh(claims, request, allow_context_qsh=False)
    return claims
