# AuditEntry, moved from the core app: its table core_auditentry and its indexes were created by core's migrations
# 0001, so this only records the model in staff's migration state (no database operation, no data migration).

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
                    name="AuditEntry",
                    fields=[
                        ("id", models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                        ("created_at", models.DateTimeField(auto_now_add=True, db_index=True)),
                        ("updated_at", models.DateTimeField(auto_now=True)),
                        ("actor_id", models.CharField(max_length=64)),
                        ("actor_username", models.CharField(max_length=150)),
                        (
                            "action",
                            models.CharField(
                                choices=[
                                    ("list", "List"),
                                    ("view", "View"),
                                    ("view_history", "View History"),
                                    ("change", "Change"),
                                    ("delete", "Delete"),
                                    ("action", "Action"),
                                    ("export", "Export"),
                                    ("restore", "Restore"),
                                    ("purge", "Purge"),
                                ],
                                max_length=16,
                            ),
                        ),
                        ("detail", models.CharField(blank=True, max_length=100)),
                        ("model", models.CharField(max_length=100)),
                        ("object_ids", models.JSONField(default=list)),
                        ("object_count", models.PositiveIntegerField(default=0)),
                        ("ip_address", models.CharField(blank=True, max_length=45)),
                        ("path", models.CharField(blank=True, max_length=255)),
                    ],
                    options={
                        "db_table": "core_auditentry",
                        "verbose_name_plural": "audit entries",
                        "ordering": ["-created_at"],
                        "indexes": [
                            models.Index(fields=["model", "-created_at"], name="core_audite_model_e62145_idx"),
                            models.Index(fields=["actor_id", "-created_at"], name="core_audite_actor_i_6ec1ff_idx"),
                        ],
                    },
                ),
            ],
            database_operations=[],
        ),
    ]
