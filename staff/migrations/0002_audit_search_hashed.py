"""A list's search text is kept as a keyed hash with its length and kind (staff.audit), never in clear; `lookup` is a
search of the audit log itself, audited like any other look at customer data."""

from django.db import migrations, models

SEARCH_KINDS = [("email", "Email"), ("issue_key", "Issue Key"), ("identifier", "Identifier"), ("text", "Text")]
ACTIONS = [
    (name, name.replace("_", " ").title())
    for name in ("list", "view", "view_history", "change", "delete", "action", "export", "restore", "purge", "lookup")
]


class Migration(migrations.Migration):
    dependencies = [("staff", "0001_initial")]
    operations = [
        migrations.AddField("auditentry", "search_hash", models.CharField(blank=True, db_index=True, max_length=64)),
        migrations.AddField(
            "auditentry", "search_kind", models.CharField(blank=True, choices=SEARCH_KINDS, max_length=16)
        ),
        migrations.AddField("auditentry", "search_length", models.PositiveIntegerField(default=0)),
        migrations.AlterField("auditentry", "action", models.CharField(choices=ACTIONS, max_length=16)),
    ]
