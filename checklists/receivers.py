"""How checklists react to tenant lifecycle events (tenants/signals.py). Connected by ChecklistsConfig.ready()."""

from django.dispatch import receiver

from tenants.signals import tenant_purging

from .services import checklist_data_delete


@receiver(tenant_purging, dispatch_uid="checklists-delete-on-purge")
def delete_on_purge(sender, tenant_id, **kwargs) -> dict[str, int]:
    return checklist_data_delete(tenant_ids=[tenant_id])
