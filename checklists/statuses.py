"""
The statuses of a site: the five built in, and the ones the site defines (SiteStatus: name, colour, whether they
count as done). Reads only; the writes are services/statuses.py.

Most writes and texts use only the five, so `SiteStatuses` asks the database the first time it is asked about a
status outside them, and never otherwise: a site without statuses of its own pays nothing for the feature.
"""

from uuid import UUID

from django.conf import settings

from core.ttlcache import TTLCache
from tenants.models import Tenant

from .models import COMPLETE_STATUSES, SiteStatus
from .validation import BUILTIN_STATUSES


class SiteStatuses:
    """What a status may be on one site (`key in statuses`), and which count as done (`key in statuses.complete`).
    Built for one request or one write: it keeps what it read."""

    def __init__(self, tenant: Tenant | UUID):
        self.tenant_id = tenant.id if isinstance(tenant, Tenant) else tenant
        self._done: dict[str, bool] | None = None
        self._names: dict[str, str] = {}
        self.complete = _Complete(self)

    def own(self) -> dict[str, bool]:
        """The site's own statuses: key -> counts as done."""
        if self._done is None:
            rows = SiteStatus.objects.filter(tenant_id=self.tenant_id).values_list("key", "name", "counts_as_done")
            self._done = {}
            for key, name, done in rows:
                self._done[key], self._names[key] = done, name
        return self._done

    def names(self) -> dict[str, str]:
        """The site's own statuses: key -> name (read with own(), in the same query)."""
        self.own()
        return self._names

    def __contains__(self, key) -> bool:
        return key in BUILTIN_STATUSES or (isinstance(key, str) and key in self.own())


class _Complete:
    def __init__(self, statuses: SiteStatuses):
        self.statuses = statuses

    def __contains__(self, key) -> bool:
        if key in BUILTIN_STATUSES:
            return key in COMPLETE_STATUSES
        return bool(self.statuses.own().get(key))


def site_statuses(tenant: Tenant) -> list[SiteStatus]:
    return list(SiteStatus.objects.filter(tenant=tenant).order_by("position", "created_at"))


def status_json(status: SiteStatus) -> dict:
    return {"key": status.key, "name": status.name, "color": status.color, "countsAsDone": status.counts_as_done}


def site_statuses_json(tenant: Tenant) -> list[dict]:
    return [status_json(s) for s in site_statuses(tenant)]


# The panel's read carries the site's statuses on every GET, and they change rarely (a site admin's act): each process
# keeps them TENANT_CACHE_SECONDS, as it keeps the site's row (tenants/selectors.py), so a warm read stays one query.
# Another process may draw a changed list that much later; no write relies on this (writes check the database).
_panel_statuses: TTLCache[list[dict]] = TTLCache(lambda: settings.TENANT_CACHE_SECONDS, max_entries=4096)


def panel_statuses_json(tenant: Tenant) -> list[dict]:
    statuses = _panel_statuses.get(tenant.pk, lambda: site_statuses_json(tenant))
    return statuses if statuses is not None else []


def panel_statuses_forget(tenant_id: UUID) -> None:
    """A site's statuses changed: this process reads them again at the next panel read."""
    _panel_statuses.forget([tenant_id])
