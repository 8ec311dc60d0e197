"""HubSpot's REST API: contacts batch upsert by email, and list membership. Only name, email and our role property
ever leave; every call passes the shared rate limiter first.

Two plain JSON calls through core.outbound, like every outbound call of ours, so each has a total deadline
(OUTBOUND_DEADLINE_SECONDS). hubspot-api-client's urllib3 timeout bounded each wait on the socket only: a HubSpot (or a
proxy) trickling its answer a byte at a time held the push, its worker and its rate-limit slot for as long as it kept
sending. The SDK's models were bypassed already (plain JSON in and out cost a push far less CPU)."""

import logging
from dataclasses import dataclass, field
from urllib.parse import quote

import httpx
import redis
from django.conf import settings

from core import jsonbody, outbound
from core.retry import retry_after_seconds

from . import ratelimit

logger = logging.getLogger(__name__)

MAX_BATCH = 100
ROLE_PROPERTY = "herochecklist_role"


class HubSpotError(Exception):
    def __init__(self, message: str, *, status: int | None = None, retry_after: float | None = None, body=None):
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after
        self.body = body

    @property
    def transient(self) -> bool:
        return self.status is None or self.status == 429 or self.status >= 500


@dataclass
class UpsertResult:
    ids: dict[str, str] = field(default_factory=dict)  # email -> HubSpot id
    errors: dict[str, str] = field(default_factory=dict)  # email -> reason


def _send(method: str, path: str, body) -> bytes:
    """One call to HubSpot, past the shared limiter; the answer's body. HubSpotError for anything but a 2xx."""
    try:
        slot = ratelimit.acquire(
            settings.HUBSPOT_RATE_LIMIT_KEY,
            limit=settings.HUBSPOT_RATE_LIMIT,
            window_seconds=settings.HUBSPOT_RATE_WINDOW_SECONDS,
            max_wait_seconds=settings.HUBSPOT_RATE_WINDOW_SECONDS * 6,
            # The call's deadline bounds when the request can arrive.
            flight_seconds=settings.OUTBOUND_DEADLINE_SECONDS,
        )
    except redis.RedisError:
        # The shared log is out of reach: no call goes out uncounted; the task tries again later.
        raise HubSpotError("rate limiter unreachable") from None
    try:
        try:
            # No retries here: every attempt must pass the limiter, and a task retries with backoff instead.
            response = outbound.request(
                method,
                settings.HUBSPOT_BASE_URL.rstrip("/") + path,
                json=body,
                headers={"Authorization": f"Bearer {settings.HUBSPOT_ACCESS_TOKEN}", "Accept": "application/json"},
            )
        except (httpx.HTTPError, httpx.InvalidURL) as exc:  # a timeout, the deadline, a connection lost mid-answer
            raise HubSpotError(f"HubSpot unreachable: {type(exc).__name__}") from None
        status = response.status_code
        if status < 300:
            return response.content
        retry_after = retry_after_seconds(response.headers.get("Retry-After"))
        if status == 429:
            ratelimit.penalise(
                settings.HUBSPOT_RATE_LIMIT_KEY, seconds=retry_after or settings.HUBSPOT_RATE_WINDOW_SECONDS
            )
        raise HubSpotError(f"HubSpot answered {status}", status=status, retry_after=retry_after, body=response.content)
    finally:
        ratelimit.answered(settings.HUBSPOT_RATE_LIMIT_KEY, slot, window_seconds=settings.HUBSPOT_RATE_WINDOW_SECONDS)


def split_name(display_name: str) -> tuple[str, str]:
    first, _, last = display_name.strip().partition(" ")
    return first, last.strip()


def upsert_contacts(people: list[dict]) -> UpsertResult:
    """people: [{"email", "name", "roles"}], at most 100. Idempotent: HubSpot upserts by email.

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
                    ROLE_PROPERTY: ";".join(sorted(person["roles"])),
                },
            }
        )
    data = _send("POST", "/crm/v3/objects/contacts/batch/upsert", {"inputs": inputs})
    try:
        body = jsonbody.loads(data)
    except jsonbody.BadJson:
        # A proxy's error page with a 2xx status, say: transient (status None), never a refusal of the contacts.
        raise HubSpotError("HubSpot answered something that is not JSON") from None
    result = UpsertResult()
    for record in _objects(body.get("results") if isinstance(body, dict) else None):
        email = str((record.get("properties") or {}).get("email") or "").lower()
        if email and record.get("id") is not None:
            result.ids[email] = str(record["id"])
    for error in _objects(body.get("errors") if isinstance(body, dict) else None):
        context = error.get("context") or {}
        for email in context.get("ids", []) or context.get("email", []) if isinstance(context, dict) else []:
            result.errors[str(email).lower()] = str(error.get("message") or "") or "rejected by HubSpot"
    return result


def _objects(value) -> list[dict]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def add_to_list(list_id: str, hubspot_ids: list[str]) -> None:
    if not list_id or not hubspot_ids:
        return
    _send("PUT", f"/crm/v3/lists/{quote(list_id, safe='')}/memberships/add", hubspot_ids)
