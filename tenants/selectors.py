"""
Tenant reads on the request path, cached in each process's memory.

Every API request names its site (a Connect JWT's iss, a panel token's tid, a FIT's installationId). Reading that
row from the database was a third of a checklist read, and a shared cache is no cheaper: a Redis round trip costs
about what the query does. So each process keeps the rows it read for TENANT_CACHE_SECONDS, and forgets a row at
once when this process saves or deletes it (signals below; `tenant_cache_forget` for raw writes such as a restore).

What that costs: another process may go on using the old row for up to TENANT_CACHE_SECONDS after an uninstall,
a disable or a new secret. A Connect token that fails against a cached secret is checked again against the database
row before it is refused (tenants.auth), so a reinstall's new secret works everywhere at once; it is the old secret
that may keep working that long on other processes. Set 0 to read the row on every request.
The shared secret stays encrypted in the cached row; core.crypto memoizes its decryption.
"""

from django.conf import settings
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from core.db import on_commit, one
from core.rows import instance_copy
from core.ttlcache import TTLCache

from .models import Tenant

MAX_ENTRIES = 10_000  # beyond this the cache starts over: a flood of distinct ids cannot grow a process's memory

_cache: TTLCache[Tenant] = TTLCache(lambda: settings.TENANT_CACHE_SECONDS, max_entries=MAX_ENTRIES)


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
    thread may have stored the old row in between). Other processes follow within TENANT_CACHE_SECONDS."""
    keys = set()
    for tenant in tenants:
        keys |= _keys(tenant)

    def forget():
        _cache.forget(keys)

    forget()
    on_commit(forget)


def tenant_cache_clear() -> None:
    _cache.clear()


@receiver(post_save, sender=Tenant, dispatch_uid="tenant-cache-save")
@receiver(post_delete, sender=Tenant, dispatch_uid="tenant-cache-delete")
def _forget_on_write(sender, instance: Tenant, **kwargs) -> None:
    tenant_cache_forget([instance])
    instance._loaded_lookup_values = instance.lookup_values()
