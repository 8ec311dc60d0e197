"""How contacts react to tenant lifecycle events (tenants/signals.py). Connected by ContactsConfig.ready()."""

from django.dispatch import receiver

from tenants.signals import tenant_merging, tenant_purging, tenant_uninstalled

from .services import contact_data_delete, contact_data_merge
from .tasks import tenant_offboard_task


@receiver(tenant_uninstalled, dispatch_uid="contacts-offboard-on-uninstall")
def offboard_on_uninstall(sender, tenant_id, **kwargs) -> None:
    tenant_offboard_task.delay(tenant_id)


@receiver(tenant_purging, dispatch_uid="contacts-delete-on-purge")
def delete_on_purge(sender, tenant_id, **kwargs) -> dict[str, int]:
    return contact_data_delete(tenant_ids=[tenant_id])


@receiver(tenant_merging, dispatch_uid="contacts-move-on-merge")
def move_on_merge(sender, source_id, target_id, **kwargs) -> dict[str, int]:
    return contact_data_merge(source_id=source_id, target_id=target_id)
