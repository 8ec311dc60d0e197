"""HubSpot through hubspot-api-client: contacts batch upsert by email, and list membership. Only name, email and
our role property ever leave; every call passes the shared rate limiter first."""

import functools
import logging
from dataclasses import dataclass, field

import orjson
import redis
from django.conf import settings
from hubspot import HubSpot
from hubspot.discovery.discovery_base import DiscoveryBase
from urllib3.util.retry import Retry

from core import outbound
from core import proxy as outbound_proxy
from core.retry import retry_after_seconds

from . import ratelimit

logger = logging.getLogger(__name__)

MAX_BATCH = 100


class HubSpotError(Exception):
    def __init__(self, message: str, *, status: int | None = None, retry_after: float | None = None, body=None):
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after
        self.body = body

    @property
    def transient(self) -> bool:
        """Nothing to hold against what was sent for good: a push is retried and its contacts released, never failed.
        A 5xx may still be one contact's data (a push's last try halves its batch)."""
        return self.not_about_the_data or (self.status is not None and self.status >= 500)

    @property
    def not_about_the_data(self) -> bool:
        """No answer, busy (429), or a refusal of our account rather than of what was sent (ACCOUNT_REFUSALS, a
        redirect): halving the batch would find no contact to blame."""
        status = self.status
        return status is None or status == 429 or status in ACCOUNT_REFUSALS or 300 <= status < 400


# Answers about our account, not about the contacts or list members sent: the private-app token revoked or rotated
# (401), a scope it lacks (403), the forward proxy's own sign-in (407); a redirect likewise (the SDK follows none).
# Taken as refusals of the data, a revoked token failed every pending contact for good, halving each batch down to
# single contacts to find the one to blame, and settled every list addition as refused: none was ever tried again.
ACCOUNT_REFUSALS = frozenset({401, 403, 407})


@dataclass
class UpsertResult:
    ids: dict[str, str] = field(default_factory=dict)  # email -> HubSpot id
    errors: dict[str, str] = field(default_factory=dict)  # email -> reason


def _client() -> HubSpot:
    return _client_for(
        settings.HUBSPOT_ACCESS_TOKEN, settings.HUBSPOT_BASE_URL.rstrip("/"), settings.OUTBOUND_PROXY_URL
    )


@functools.lru_cache(maxsize=4)
def _client_for(token: str, host: str, proxy_url: str) -> HubSpot:
    # One client (and its connection pool) per process and account, not one per call. No retries inside it (urllib3
    # retries three times by default, SSL errors even for a POST): every attempt must pass the limiter, and a task
    # retries with backoff instead.
    options = {}
    # OUTBOUND_PROXY_URL, as every outbound call (core/proxy.py). The SDK's Configuration.proxy makes its pool a
    # urllib3 ProxyManager, which takes no credentials from the URL: they go in proxy_headers. A value the check
    # (E008) refuses never gets here in a process that started.
    chosen = outbound_proxy.parse(proxy_url)
    if chosen is not None:
        options = {"proxy": chosen.url, "proxy_headers": chosen.headers or None}
    return HubSpot(access_token=token, host=host, retry=Retry(False), api_factory=_api_with_deadline, **options)


def _api_with_deadline(api_client_package, api_name: str, config: dict):
    """The SDK's own API object (each sub-package builds its own urllib3 pool), its connections keeping the deadline
    _limited sets: the SDK's timeout is urllib3's, per read, and a HubSpot (or proxy) trickling its answer a byte at a
    time would hold the worker for as long as it kept trickling."""
    api = DiscoveryBase._default_api_factory(api_client_package, api_name, config)
    outbound.urllib3_with_deadline(api.api_client.rest_client.pool_manager)
    return api


def _limited(call):
    try:
        slot = ratelimit.acquire(
            settings.HUBSPOT_RATE_LIMIT_KEY,
            limit=settings.HUBSPOT_RATE_LIMIT,
            window_seconds=settings.HUBSPOT_RATE_WINDOW_SECONDS,
            max_wait_seconds=settings.HUBSPOT_RATE_WINDOW_SECONDS * 6,
            # The deadline below bounds the whole exchange, so the request arrives within it or never; one more
            # timeout on top is room to spare.
            flight_seconds=settings.OUTBOUND_DEADLINE_SECONDS + settings.OUTBOUND_TIMEOUT_SECONDS,
        )
    except redis.RedisError:
        # The shared log is out of reach: no call goes out uncounted; the task tries again later.
        raise HubSpotError("rate limiter unreachable") from None
    try:
        # Connecting, sending and reading the whole answer (callers read the body inside `call`) end within
        # OUTBOUND_DEADLINE_SECONDS: running out is urllib3's timeout error, "unreachable" below, transient.
        with outbound.deadline(settings.OUTBOUND_DEADLINE_SECONDS):
            return call()
    except Exception as exc:  # every sub-package has its own ApiException class; urllib3 raises its own errors
        status = getattr(exc, "status", None)
        if not isinstance(status, int) or status == 0:  # the SDK reports an SSL failure as status 0
            raise HubSpotError(f"HubSpot unreachable: {type(exc).__name__}") from None
        headers = getattr(exc, "headers", None) or {}
        retry_after = headers.get("Retry-After") if hasattr(headers, "get") else None
        # Bounded: the block below holds every worker's calls, and the push's retry waits it whole.
        retry_after = retry_after_seconds(retry_after)
        if status == 429:
            ratelimit.penalise(
                settings.HUBSPOT_RATE_LIMIT_KEY, seconds=retry_after or settings.HUBSPOT_RATE_WINDOW_SECONDS
            )
        body = getattr(exc, "body", None)
        raise HubSpotError(f"HubSpot answered {status}", status=status, retry_after=retry_after, body=body) from None
    finally:
        ratelimit.answered(settings.HUBSPOT_RATE_LIMIT_KEY, slot, window_seconds=settings.HUBSPOT_RATE_WINDOW_SECONDS)


def split_name(display_name: str) -> tuple[str, str]:
    first, _, last = display_name.strip().partition(" ")
    return first, last.strip()


def upsert_contacts(people: list[dict]) -> UpsertResult:
    """people: [{"email", "name"}], at most 100: only a contact's email and name leave for HubSpot (its first and last
    name split at the first space). Idempotent: HubSpot upserts by email.

    The body goes as plain JSON and the answer is read as plain JSON: the SDK's model objects cost a push 45 ms of
    CPU (a Configuration per input, a dateutil parse per timestamp in the answer), more than everything else a push
    does, and the push phase is CPU-bound on a small worker host (bench/sync)."""
    if len(people) > MAX_BATCH:
        raise ValueError(f"at most {MAX_BATCH} contacts per call")
    inputs = []
    for person in people:
        first, last = split_name(person["name"])
        inputs.append(
            {
                "id": person["email"],
                "idProperty": "email",
                "properties": {
                    "email": person["email"],
                    "firstname": first,
                    "lastname": last,
                },
            }
        )
    # The body is read inside the limited call, so a connection lost while reading it is "unreachable" (transient).
    data = _limited(
        lambda: (
            _client()
            .crm.contacts.batch_api.upsert(
                batch_input_simple_public_object_batch_input_upsert={"inputs": inputs},
                _request_timeout=settings.OUTBOUND_TIMEOUT_SECONDS,
                _preload_content=False,
            )
            .data
        )
    )
    try:
        body = orjson.loads(data)
    except orjson.JSONDecodeError:
        # A proxy's error page with a 2xx status, say: transient (status None), never a refusal of the contacts.
        raise HubSpotError("HubSpot answered something that is not JSON") from None
    result = UpsertResult()
    for record in _objects(body.get("results") if isinstance(body, dict) else None):
        properties = record.get("properties")  # an object in HubSpot's shape; anything else names nobody
        email = properties.get("email") if isinstance(properties, dict) else None
        if isinstance(email, str) and email and record.get("id") is not None:
            result.ids[email.lower()] = str(record["id"])
    for error in _objects(body.get("errors") if isinstance(body, dict) else None):
        context = error.get("context") or {}
        for email in context.get("ids", []) or context.get("email", []) if isinstance(context, dict) else []:
            result.errors[str(email).lower()] = str(error.get("message") or "") or "rejected by HubSpot"
    return result


def _read(response) -> bytes:
    """The whole body of a response taken with _preload_content=False, its connection back in the pool after."""
    try:
        return response.data
    finally:
        response.release_conn()


def _objects(value) -> list[dict]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def add_to_list(list_id: str, hubspot_ids: list[str]) -> None:
    if not list_id or not hubspot_ids:
        return
    _limited(
        lambda: _client().crm.lists.memberships_api.add(
            list_id=list_id, request_body=hubspot_ids, _request_timeout=settings.OUTBOUND_TIMEOUT_SECONDS
        )
    )
