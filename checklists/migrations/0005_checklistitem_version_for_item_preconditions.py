from django.db import migrations, models


class Migration(migrations.Migration):
    """Per-item versions: a write may be conditional on one item (If-Match: "item-<id>-<version>"), so edits of
    different items never conflict. Existing items start at version 1."""

    dependencies = [
        ("checklists", "0004_headers_are_titles_only"),
    ]

    operations = [
        migrations.AddField(
            model_name="checklistitem",
            name="version",
            field=models.PositiveIntegerField(default=1),
        ),
    ]
