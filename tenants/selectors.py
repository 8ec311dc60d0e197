"""
Tenant reads on the request path, cached in each process's memory.

Every API request names its site (a Connect JWT's iss, a panel token's tid, a FIT's installationId). Reading that
row from the database was a third of a checklist read, and a shared cache is no cheaper: a Redis round trip costs
about what the query does. So each process keeps the rows it read for TENANT_CACHE_SECONDS, and every process forgets
a row as soon as a write to it commits: the signals below and `tenant_cache_forget` (for raw writes: update(), a
restore) publish its keys on the cache Redis, which every process hears (core/invalidation.py). An uninstall, a
disable or a new secret counts everywhere at once: "Jira is the authority" holds on every web process and node.

While a process cannot hear those messages (before its listener has subscribed, Redis down, after a fork) it reads
the row on every request instead, and keeps nothing it read then. TENANT_CACHE_SECONDS stays a backstop, for a
message that could not be published (the writer lost Redis while the others had it; logged). Without CACHE_URL
(development, one process) other processes are not told: they keep a row that long. Set 0 to read the row on every
request. The shared secret stays encrypted in the cached row; core.crypto memoizes its decryption.
"""

from django.conf import settings
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from core.db import one
from core.invalidation import InvalidatedCache
from core.rows import instance_copy

from .models import Tenant

MAX_ENTRIES = 10_000  # beyond this the cache starts over: a flood of distinct ids cannot grow a process's memory

_cache: InvalidatedCache[Tenant] = InvalidatedCache(
    "tenants", lambda: settings.TENANT_CACHE_SECONDS, max_entries=MAX_ENTRIES
)


def _cached(key: tuple[str, str], load, *, fresh: bool) -> Tenant | None:
    tenant = _cache.get(key, load, fresh=fresh)  # an unknown site is not remembered: its install must count at once
    # A copy per caller: a request that changes its tenant (enable, disable) must not change another's.
    return instance_copy(tenant) if tenant is not None else None


def tenant_for_client_key(client_key: str, *, fresh: bool = False) -> Tenant | None:
    """The tenant with this Connect clientKey, in any state (callers decide which states they trust). fresh=True
    reads the database and refreshes the cache."""
    return _cached(("ck", client_key), lambda: one(Tenant.objects.filter(client_key=client_key)), fresh=fresh)


def tenant_for_id(tenant_id: str) -> Tenant | None:
    return _cached(("id", str(tenant_id)), lambda: one(Tenant.objects.filter(pk=tenant_id)), fresh=False)


def tenant_for_installation(installation_id: str, *, fresh: bool = False) -> Tenant | None:
    """The site's tenant for a Forge installationId: the oldest, should a Connect and a Forge row share it.
    fresh=True reads the database (writers do), and refreshes the cache."""
    return _cached(
        ("inst", installation_id),
        lambda: Tenant.objects.filter(installation_id=installation_id).order_by("created_at").first(),
        fresh=fresh,
    )


def _keys(tenant: Tenant) -> set[tuple[str, str]]:
    keys = set()
    for values in (getattr(tenant, "_loaded_lookup_values", None), tenant.lookup_values()):
        if values:
            pk, client_key, installation_id = values
            keys |= {("id", str(pk)), ("ck", client_key)}
            if installation_id:
                keys.add(("inst", installation_id))
    return keys


def tenant_cache_forget(tenants) -> None:
    """This process forgets these tenants' rows now, and again when the surrounding transaction commits (another
    thread may have stored the old row in between); every other process when that commit's message reaches it."""
    keys = set()
    for tenant in tenants:
        keys |= _keys(tenant)
    _cache.forget_everywhere(keys)


def tenant_cache_clear() -> None:
    _cache.clear()


@receiver(post_save, sender=Tenant, dispatch_uid="tenant-cache-save")
@receiver(post_delete, sender=Tenant, dispatch_uid="tenant-cache-delete")
def _forget_on_write(sender, instance: Tenant, **kwargs) -> None:
    tenant_cache_forget([instance])
    instance._loaded_lookup_values = instance.lookup_values()
