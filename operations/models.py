from django.db import models

from core.models import BaseModel


class ReportedAccount(BaseModel):
    """When an Atlassian accountId we store was last reported to the personal data reporting API (once per cycle).

    A `closed` answer pseudonymises every reference and then removes this row too (operations/privacy.py)."""

    account_id = models.CharField(max_length=128, unique=True)
    reported_at = models.DateTimeField(db_index=True)

    class Meta:
        # Defined in core until the operations app existed: the table keeps its name (no data migration).
        db_table = "core_reportedaccount"

    def __str__(self):
        return f"account reported {self.reported_at:%Y-%m-%d}"
