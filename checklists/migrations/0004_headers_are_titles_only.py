"""Headers written before the rule (validation.HEADER_FIELDS) could carry a status, assignee or due date through the
JSON API, which text mode drops: reset them so GET text then PUT text changes nothing. Headers never count in
progress, so the stored counts stay right."""

from django.db import migrations


def reset_header_fields(apps, schema_editor):
    item = apps.get_model("checklists", "ChecklistItem")
    item.objects.filter(is_header=True).update(status="todo", mandatory=False, assignee_account_id="", due_date=None)


class Migration(migrations.Migration):
    dependencies = [("checklists", "0003_checklist_updated_at")]
    operations = [migrations.RunPython(reset_header_fields, migrations.RunPython.noop)]
