# AuditEntry moved to the staff app and ReportedAccount to the operations app. Their tables keep their names
# (db_table), so this only forgets them in core's migration state: nothing is written to the database.

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0002_reportedaccount"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(name="AuditEntry"),
                migrations.DeleteModel(name="ReportedAccount"),
            ],
            database_operations=[],
        ),
    ]
