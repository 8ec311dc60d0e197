"""Key pairs of the local stand-ins (never Atlassian's): one for signed installs, one for Forge tokens."""

import base64
import itertools
import json
import threading
import time
import uuid

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from tenants.qsh import query_string_hash

# A 2,048-bit RSA key costs about 60 ms of CPU to generate, and the tests start about two stand-ins each (two key
# pairs a stand-in): minutes of a suite run. A process therefore hands out a ring of RING_SIZE keys, each KeyPair
# under a kid of its own. Any RING_SIZE key pairs made one after another hold distinct keys, so a token "signed by
# another key" (a forger's, a rotated or revoked one) is still signed by another key.
RING_SIZE = 16
_ring: list[rsa.RSAPrivateKey] = []
_turn = itertools.count()
_ring_lock = threading.Lock()


def _ring_key() -> rsa.RSAPrivateKey:
    with _ring_lock:
        place = next(_turn) % RING_SIZE
        if place == len(_ring):
            _ring.append(rsa.generate_private_key(public_exponent=65537, key_size=2048))
        return _ring[place]


class KeyPair:
    def __init__(self, kid: str | None = None):
        self.kid = kid or f"devhost-{uuid.uuid4().hex[:12]}"
        self.private = _ring_key()

    @property
    def public_pem(self) -> str:
        return (
            self.private.public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            .decode()
        )

    @property
    def jwk(self) -> dict:
        key = json.loads(RSAAlgorithm.to_jwk(self.private.public_key()))
        return {**key, "kid": self.kid, "use": "sig", "alg": "RS256"}

    def sign(self, claims: dict, *, kid: str | None = None, alg: str = "RS256") -> str:
        return jwt.encode(claims, self.private, algorithm=alg, headers={"kid": kid or self.kid})


def install_token(keys: KeyPair, *, client_key: str, app_base_url: str, path: str, ttl: int = 180, **overrides) -> str:
    """What Atlassian sends on a signed install/uninstall: RS256, aud = app baseUrl, iss = clientKey, qsh."""
    now = int(time.time())
    claims = {
        "iss": client_key,
        "aud": [app_base_url],
        "iat": now,
        "exp": now + ttl,
        "qsh": query_string_hash("POST", path),
        "sub": f"connect:{client_key}",
    }
    claims.update(overrides)
    return keys.sign(claims)


def hs256_token(secret: str, claims: dict) -> str:
    return jwt.encode(claims, secret, algorithm="HS256")


def connect_token(
    *,
    secret: str,
    client_key: str,
    method: str = "GET",
    path: str = "/",
    query=(),
    account_id: str | None = "557058:devhost-user",
    ttl: int = 180,
    qsh: str | None = None,
    context: dict | None = None,
    **overrides,
) -> str:
    now = int(time.time())
    claims = {"iss": client_key, "iat": now, "exp": now + ttl, "qsh": qsh or query_string_hash(method, path, query)}
    if account_id:
        claims["sub"] = account_id
    if context is not None:
        claims["context"] = context
    claims.update(overrides)
    return hs256_token(secret, claims)


def forge_token(
    keys: KeyPair,
    *,
    app_id: str,
    installation_id: str,
    principal: str | None = "557058:forge-user",
    issue: dict | None = None,
    site_url: str = "https://forge-site.atlassian.net",
    api_base_url: str = "",
    ttl: int = 60,
    module_key: str = "herochecklist-panel",
    **overrides,
) -> str:
    now = int(time.time())
    claims = {
        "iss": "forge/invocation-token",
        "aud": app_id,
        "iat": now,
        "nbf": now,
        "exp": now + ttl,
        "app": {
            "id": app_id,
            "installationId": installation_id,
            "apiBaseUrl": api_base_url or site_url,
            "environment": {"type": "DEVELOPMENT", "id": "dev"},
            "module": {
                "key": module_key,
                "type": "jira:issuePanel" if module_key.endswith("panel") else "core:trigger",
            },
        },
        "context": {"cloudId": "cloud-" + installation_id[-8:], "siteUrl": site_url},
    }
    if principal:
        claims["principal"] = principal
    if issue:
        claims["context"]["extension"] = {"issue": issue, "project": {"id": issue.get("projectId", "")}}
    claims.update(overrides)
    return keys.sign(claims)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
