"""The audit trail of staff access to customer data (see core.models.AuditEntry)."""

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
