from django.db import models
from django.utils import timezone

from core import crypto
from core.models import BaseModel


class TenantState(models.TextChoices):
    INSTALLED = "installed"
    ENABLED = "enabled"
    DISABLED = "disabled"
    UNINSTALLED = "uninstalled"


class TenantQuerySet(models.QuerySet):
    def active(self):
        """Tenants whose credentials may still be trusted."""
        return self.exclude(state=TenantState.UNINSTALLED)

    def hold(self, tenant_id) -> None:
        """Inside a transaction that counts a site's rows to keep a limit, then adds one (templates, statuses, site
        tokens): writes the site's row first, so two such transactions cannot both pass the count. On MongoDB each
        counts in its own snapshot (both would see 199 of 200, both insert); now the second to write this row meets
        a write conflict, rolls back whole and is answered 409 to retry. On SQLite the writers' turns already
        serialize them. Call it before counting."""
        self.filter(pk=tenant_id).update(updated_at=timezone.now())


class Tenant(BaseModel):
    """A Jira site that installed the app, through Connect (client_key) or Forge (installation_id), or both."""

    # Connect's clientKey. A Forge-only tenant gets "forge:<installationId>" so the column stays unique and
    # non-null on both databases (MongoDB's unique indexes treat every null as the same value).
    client_key = models.CharField(max_length=255, unique=True)
    installation_id = models.CharField(max_length=255, blank=True, db_index=True)
    cloud_id = models.CharField(max_length=255, blank=True, db_index=True)
    base_url = models.URLField(max_length=255)
    display_url = models.URLField(max_length=255, blank=True)
    product_type = models.CharField(max_length=32, default="jira")
    entitlement_id = models.CharField(max_length=255, blank=True, db_index=True)
    entitlement_number = models.CharField(max_length=255, blank=True)
    state = models.CharField(max_length=16, choices=TenantState.choices, default=TenantState.INSTALLED)
    installed_at = models.DateTimeField(null=True, blank=True)
    # Counts the site's installs: our panel and manager tokens carry the count they were minted under, and one minted
    # under an earlier install is refused (tenants/auth/panel.py). A count, not installed_at against the token's iat:
    # those are two hosts' clocks, and a few seconds between them refused a fresh token or let a stale one in.
    install_generation = models.PositiveIntegerField(default=0, editable=False)
    enabled_at = models.DateTimeField(null=True, blank=True)
    disabled_at = models.DateTimeField(null=True, blank=True)
    uninstalled_at = models.DateTimeField(null=True, blank=True)
    # When Atlassian signed the latest Connect lifecycle event applied here (its JWT's iat, Atlassian's clock): one
    # signed more than JWT_LEEWAY_SECONDS before it is stale (a retry or replay delivered late) and changes nothing
    # (tenants/services.py).
    lifecycle_signed_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Encrypted with core.crypto; never shown in the admin, logs or errors.
    shared_secret_encrypted = models.TextField(blank=True, editable=False)
    # Forge app system token from the latest FIT call (encrypted), for background calls to the product API.
    forge_api_base_url = models.URLField(max_length=255, blank=True)
    forge_system_token_encrypted = models.TextField(blank=True, editable=False)
    forge_system_token_expires_at = models.DateTimeField(null=True, blank=True)
    # The panel reports how long its users wait (timings only, see checklists/telemetry.py); staff can switch it off.
    client_timing_enabled = models.BooleanField(
        default=True, help_text="The panel reports page and API timings (numbers only) for monitoring."
    )
    # Workflow rules (checklists/workflow): set when a workflow rule is configured; then every checklist write marks
    # the progress property "pending" in Jira before it commits, so a validator never passes on a stale property.
    workflow_rules_in_use = models.BooleanField(
        default=False, help_text="Checklist writes mark the Jira progress property pending first (workflow rules)."
    )
    clone_keeps_statuses = models.BooleanField(
        default=False, help_text="A cloned issue's checklist keeps its item statuses (else all reset to to do)."
    )

    objects = TenantQuerySet.as_manager()

    class Meta:
        indexes = [models.Index(fields=["state", "uninstalled_at"])]

    def __str__(self):
        return self.display_name

    @classmethod
    def from_db(cls, db, field_names, values):
        instance = super().from_db(db, field_names, values)
        # What the row was looked up by when loaded: a save that changes them must forget the old cache keys too.
        instance._loaded_lookup_values = instance.lookup_values()
        return instance

    def lookup_values(self) -> tuple | None:
        """(pk, client_key, installation_id) as they are in memory, without loading deferred fields."""
        values = self.__dict__
        if "client_key" not in values or "installation_id" not in values:
            return None
        return (self.pk, values["client_key"], values["installation_id"])

    @property
    def display_name(self) -> str:
        return (self.base_url or self.client_key).removeprefix("https://")

    @property
    def is_forge_only(self) -> bool:
        return self.client_key.startswith("forge:")

    @property
    def is_active(self) -> bool:
        return self.state != TenantState.UNINSTALLED

    @property
    def shared_secret(self) -> str:
        return crypto.decrypt(self.shared_secret_encrypted) if self.shared_secret_encrypted else ""

    def set_shared_secret(self, secret: str) -> None:
        self.shared_secret_encrypted = crypto.encrypt(secret)

    def forge_system_token(self) -> str:
        if not self.forge_system_token_encrypted:
            return ""
        if self.forge_system_token_expires_at and self.forge_system_token_expires_at <= timezone.now():
            return ""
        return crypto.decrypt(self.forge_system_token_encrypted)


class SiteTokenScope(models.TextChoices):
    READ = "read"
    WRITE = "write"  # read and write


class SiteToken(BaseModel):
    """A site API token (Jira Automation, scripts, AI agents): it acts as the app for its site, reading or also writing
    checklists by scope. Only a SHA-256 of the token is stored: the token is 256 random bits, so a fast hash is as
    safe as a slow one (nothing to guess) and costs an API call nothing. `prefix` is the token's public first part:
    the unique index a request finds its row by, and what admins and the audit see to tell tokens apart."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="site_tokens")
    name = models.CharField(max_length=100)
    scope = models.CharField(max_length=8, choices=SiteTokenScope.choices)
    prefix = models.CharField(max_length=16, unique=True)
    secret_hash = models.CharField(max_length=64, editable=False)
    created_by = models.CharField(max_length=128)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.CharField(max_length=128, blank=True)

    class Meta:
        indexes = [models.Index(fields=["tenant", "created_at"], name="site_token_tenant_created")]

    def __str__(self):
        return f"hc_{self.prefix}… ({self.scope})"


class SiteTokenUse(BaseModel):
    """The audit of site tokens: which token did what, when, and what token admins did to it. No secret, no query
    string, no body: `action` is a route pattern or a tool name."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    token = models.ForeignKey(SiteToken, on_delete=models.CASCADE, related_name="uses")
    actor = models.CharField(max_length=128)  # the token itself ("app:token:<prefix>"), or the admin's accountId
    action = models.CharField(max_length=120)

    class Meta:
        indexes = [models.Index(fields=["token", "-created_at"], name="site_token_use_recent")]
