from django.db import models

from core.models import BaseModel
from tenants.models import Tenant


class SyncState(models.TextChoices):
    PENDING = "pending"
    SYNCED = "synced"
    FAILED = "failed"


class ContactRole(models.TextChoices):
    BILLING = "billing"
    TECHNICAL = "technical"


class License(BaseModel):
    """A Marketplace license of our app, as the reporting API reports it (only what we need to reach contacts)."""

    addon_license_id = models.CharField(max_length=64, unique=True)
    app_entitlement_id = models.CharField(max_length=128, blank=True, db_index=True)
    app_entitlement_number = models.CharField(max_length=128, blank=True, db_index=True)
    cloud_site_hostname = models.CharField(max_length=255, blank=True, db_index=True)
    tenant = models.ForeignKey(Tenant, null=True, blank=True, on_delete=models.SET_NULL, related_name="licenses")
    status = models.CharField(max_length=32, blank=True)
    license_type = models.CharField(max_length=32, blank=True)
    last_updated = models.DateField(null=True, blank=True)

    def __str__(self):
        return self.cloud_site_hostname or self.addon_license_id

    @property
    def is_active(self) -> bool:
        return self.status == "active"


class Contact(BaseModel):
    """One person, by normalised email, however many licenses name them: one HubSpot contact."""

    email = models.EmailField(max_length=254, unique=True)
    display_name = models.CharField(max_length=200, blank=True)
    hubspot_id = models.CharField(max_length=64, blank=True)
    sync_state = models.CharField(max_length=16, choices=SyncState.choices, default=SyncState.PENDING, db_index=True)
    sync_attempts = models.PositiveIntegerField(default=0)
    last_error = models.CharField(max_length=500, blank=True)
    synced_at = models.DateTimeField(null=True, blank=True)
    # Set while a batch task owns this contact; cleared when it finishes. A killed worker's claim expires.
    sync_claimed_at = models.DateTimeField(null=True, blank=True)
    sync_claim = models.CharField(max_length=32, blank=True)
    unsubscribed_at = models.DateTimeField(null=True, blank=True)
    # When its onboarding-list addition was settled (HubSpot confirmed it, or refused it for good): the sweep adds
    # synced contacts still without it.
    listed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["sync_state", "sync_claimed_at"]),
            # A push finds its batch by claim token. The token leads, and the index carries the state and the claim
            # time too: with only the token indexed, SQLite chose the (sync_state, sync_claimed_at) index for the
            # claim's three conditions and read every pending contact, 6 ms a push with 10,000 pending (bench/sync).
            models.Index(fields=["sync_claim", "sync_state", "sync_claimed_at"], name="contact_sync_claim_idx"),
            models.Index(fields=["sync_state", "synced_at"], name="contact_synced_idx"),  # the email sweep's
        ]
        permissions = [
            ("retry_sync", "Can retry the HubSpot sync of contacts"),
            ("import_licenses", "Can import licenses from a CSV report"),
            ("export_contacts", "Can export contacts as CSV"),
        ]

    def __str__(self):
        return self.email


class ContactLink(BaseModel):
    """That a contact is the billing or technical contact of one license."""

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="links")
    license = models.ForeignKey(License, on_delete=models.CASCADE, related_name="contact_links")
    role = models.CharField(max_length=16, choices=ContactRole.choices)
    active = models.BooleanField(default=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["contact", "license", "role"], name="unique_contact_license_role")
        ]
        indexes = [models.Index(fields=["updated_at"], name="contactlink_changed_idx")]  # the email sweep's

    def __str__(self):
        return f"{self.role} of {self.license_id}"


class EmailKind(models.TextChoices):
    ONBOARDING = "onboarding"
    OFFBOARDING = "offboarding"


class EmailDelivery(BaseModel):
    """The record that an email went out; its unique constraint is what makes each one go out once."""

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="emails")
    kind = models.CharField(max_length=16, choices=EmailKind.choices)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["contact", "kind"], name="unique_email_per_contact_kind")]
        indexes = [models.Index(fields=["kind", "sent_at"], name="email_sent_idx")]  # the email sweep's

    def __str__(self):
        return f"{self.kind} to {self.contact_id}"


class PollCursor(BaseModel):
    """Where the Marketplace poll resumes: the start time of the last run that finished."""

    name = models.CharField(max_length=64, unique=True)
    last_success_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return self.name
