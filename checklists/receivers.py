"""How checklists react to tenant lifecycle events (tenants/signals.py). Connected by ChecklistsConfig.ready()."""

from django.dispatch import receiver

from tenants.signals import tenant_merging, tenant_purging

from .services import checklist_data_delete, checklist_data_merge


@receiver(tenant_purging, dispatch_uid="checklists-delete-on-purge")
def delete_on_purge(sender, tenant_id, **kwargs) -> dict[str, int]:
    return checklist_data_delete(tenant_ids=[tenant_id])


@receiver(tenant_merging, dispatch_uid="checklists-move-on-merge")
def move_on_merge(sender, source_id, target_id, **kwargs) -> dict[str, int]:
    return checklist_data_merge(source_id=source_id, target_id=target_id)
