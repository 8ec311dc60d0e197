# ReportedAccount, moved from the core app: its table core_reportedaccount was created by core's migration 0002, so
# this only records the model in operations' migration state (no database operation, no data migration).

import uuid

from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("core", "0003_move_models_to_staff_and_operations"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="ReportedAccount",
                    fields=[
                        ("id", models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                        ("created_at", models.DateTimeField(auto_now_add=True, db_index=True)),
                        ("updated_at", models.DateTimeField(auto_now=True)),
                        ("account_id", models.CharField(max_length=128, unique=True)),
                        ("reported_at", models.DateTimeField(db_index=True)),
                    ],
                    options={"db_table": "core_reportedaccount"},
                ),
            ],
            database_operations=[],
        ),
    ]
