"""A header is never shown to customers (validation.HEADER_FIELDS), but the JSON API let a write set visibleToCustomer
on one before the rule. Clear it, so no header holds what every write path now refuses. As a change beside the write
path (services.checklist_versions_bump): each such item's version and its checklist's grow by one, so no ETag,
open panel or cached answer keeps the old value. No history row: no user did this."""

from django.db import migrations
from django.db.models import F
from django.utils import timezone


def _bump(Checklist, checklist_ids: list) -> None:
    for start in range(0, len(checklist_ids), 1000):  # bounded statements, whatever the number of checklists
        Checklist.objects.filter(id__in=checklist_ids[start : start + 1000]).update(
            version=F("version") + 1, updated_at=timezone.now()
        )


def clear_header_visibility(apps, schema_editor):
    Checklist = apps.get_model("checklists", "Checklist")
    ChecklistItem = apps.get_model("checklists", "ChecklistItem")
    headers = ChecklistItem.objects.filter(is_header=True, customer_visible=True)
    checklist_ids = sorted(set(headers.values_list("checklist_id", flat=True)))
    if not checklist_ids:
        return
    # On MongoDB a migration runs without a transaction, so these writes land one by one. The checklists grow
    # before the headers change (a run stopped here is found again by the next) and again after (a read taken
    # between the two cannot hold the old header under the final version).
    _bump(Checklist, checklist_ids)
    headers.update(customer_visible=False, version=F("version") + 1)
    _bump(Checklist, checklist_ids)


class Migration(migrations.Migration):
    dependencies = [("checklists", "0007_item_visible_to_customer")]
    operations = [migrations.RunPython(clear_header_visibility, migrations.RunPython.noop)]
