"""
Atlassian's query string hash (qsh), from the canonical request METHOD&URI&QUERY.

Written from the reference sheet and checked against the independent atlassian-jwt package in the tests.
"""

import hashlib
from collections.abc import Iterable, Mapping
from urllib.parse import parse_qsl, quote, urlsplit

CONTEXT_QSH = "context-qsh"


def _encode(value: str) -> str:
    # RFC 3986: only unreserved characters stay literal (space is %20, never +).
    return quote(value, safe="~")


def canonical_uri(path: str, base_path: str = "") -> str:
    base_path = base_path.rstrip("/")
    if base_path and (path == base_path or path.startswith(base_path + "/")):
        path = path[len(base_path) :]
    path = path.strip("/")
    # An & in the path would otherwise collide with the separators of the canonical form.
    return "/" + path.replace("&", "%26")


def canonical_query(params: Mapping[str, Iterable[str]] | Iterable[tuple[str, str]]) -> str:
    grouped: dict[str, list[str]] = {}
    pairs = params.lists() if hasattr(params, "lists") else params.items() if isinstance(params, Mapping) else None
    if pairs is not None:
        for name, values in pairs:
            grouped.setdefault(name, []).extend([values] if isinstance(values, str) else values)
    else:
        for name, value in params:
            grouped.setdefault(name, []).append(value)
    grouped.pop("jwt", None)
    # Repeated values are sorted by their decoded value, as Atlassian's own implementations do.
    entries = sorted((_encode(name), ",".join(_encode(v) for v in sorted(values))) for name, values in grouped.items())
    return "&".join(f"{name}={values}" for name, values in entries)


def canonical_request(method: str, path: str, params=(), base_path: str = "") -> str:
    return f"{method.upper()}&{canonical_uri(path, base_path)}&{canonical_query(params)}"


def query_string_hash(method: str, path: str, params=(), base_path: str = "") -> str:
    return hashlib.sha256(canonical_request(method, path, params, base_path).encode()).hexdigest()


def query_string_hash_for_url(method: str, url: str, base_path: str = "") -> str:
    """qsh of an outbound URL (absolute or relative); the query is decoded first, then re-encoded."""
    parts = urlsplit(url)
    return query_string_hash(method, parts.path, parse_qsl(parts.query, keep_blank_values=True), base_path)
