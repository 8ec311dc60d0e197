"""The audit trail of staff access to customer data (see core.models.AuditEntry)."""

import ipaddress
from collections.abc import Iterable

from django.conf import settings
from django.db import models

from .models import AuditEntry

MAX_IDS_PER_ENTRY = 500  # a page holds at most a few hundred rows; "select all" is recorded as ["*"]


def client_ip(request) -> str:
    """The caller's address: REMOTE_ADDR, or behind N trusted proxies of ours, the N-th X-Forwarded-For entry from the
    right (the address our outermost proxy saw). Entries further left are written by the client and never trusted."""
    proxies = settings.TRUSTED_PROXY_COUNT
    if proxies:
        hops = [h.strip() for h in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if h.strip()]
        if len(hops) >= proxies:
            return hops[-proxies][:45]
    return request.META.get("REMOTE_ADDR", "")[:45]


# One host gets a whole IPv6 /64 (SLAAC and privacy addresses pick any address in it at will).
LOCKOUT_IPV6_PREFIX = 64


def client_network(request) -> str:
    """The caller as the sign-in lockout counts it (AXES_CLIENT_IP_CALLABLE): client_ip, with an IPv6 address taken
    as the first address of its /64 and an IPv4-mapped one as that IPv4 address. Counted per exact address, one host
    had the failure limit's guesses at a password and second factor from each of 2**64 addresses, and a dual-stack
    listener gave an IPv4 caller two counts. The audit trail keeps the exact address (client_ip)."""
    raw = client_ip(request)
    try:
        address = ipaddress.ip_address(raw)
    except ValueError:
        return raw  # not an address (a misconfigured proxy chain): counted as it came, as before
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, LOCKOUT_IPV6_PREFIX), strict=False).network_address)
    return str(address)


def audit_record(
    *,
    request,
    action: str,
    model: type[models.Model] | str,
    object_ids: Iterable = (),
    object_count: int | None = None,
    detail: str = "",
    with_query: bool = False,
) -> AuditEntry:
    label = model if isinstance(model, str) else model._meta.label_lower
    ids = [str(i) for i in object_ids][:MAX_IDS_PER_ENTRY]
    user = request.user
    return AuditEntry.objects.create(
        actor_id=str(user.pk),
        actor_username=user.get_username(),
        action=action,
        detail=detail[:100],
        model=label,
        object_ids=ids,
        object_count=len(ids) if object_count is None else object_count,
        ip_address=client_ip(request),
        path=(request.get_full_path() if with_query else request.path)[: AuditEntry._meta.get_field("path").max_length],
    )
