"""Writes to tenants: install, uninstall, enable/disable, Forge mapping, key rotation."""

import fnmatch
import logging
import math
import re
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import jwt
from celery import current_app
from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Q
from django.utils import timezone

from core import crypto
from core.db import atomic, on_commit
from core.exceptions import ValidationFailed

from . import selectors
from .models import SiteToken, SiteTokenUse, Tenant, TenantState
from .purge_ledger import purge_record, purged_at
from .signals import tenant_merging, tenant_purging, tenant_uninstalled
from .site_tokens import site_tokens_revoke_all
from .types import AuthError

logger = logging.getLogger(__name__)

MAX_SECRET_LENGTH = 512
MAX_KEY_LENGTH = 255
_PAYLOAD_NAMES = {"client_key": "clientKey", "base_url": "baseUrl", "display_url": "displayUrl"}


# A DNS name (labels of letters, digits and inner hyphens) or an IPv4 address: what a browser and httpx agree on.
_HOSTNAME = re.compile(r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
# What a site URL's path may hold (Confluence sites end in /wiki): no spaces, backslashes, quotes or controls.
_URL_PATH = re.compile(r"(?:/[A-Za-z0-9._~%!$&'()*+,;=:@-]*)*")


def _site_url(url: str) -> tuple[str, str, int | None] | None:
    """(scheme, hostname, port) of an http(s) site URL that every parser reads the same way, else None. The host is
    the parsed hostname, never a slice of the raw string: "https://evil.com\\.atlassian.net" or a userinfo part
    must not pass as an Atlassian host."""
    if not isinstance(url, str) or not url.isascii() or not url.isprintable() or " " in url or "\\" in url:
        return None
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:  # a bad port, or an unbalanced IPv6 bracket
        return None
    hostname = parts.hostname or ""
    if (
        parts.scheme not in ("https", "http")
        or parts.username is not None
        or parts.password is not None
        or parts.query
        or parts.fragment
        or "@" in parts.netloc
        or not _HOSTNAME.fullmatch(hostname)
        or not _URL_PATH.fullmatch(parts.path)
    ):
        return None
    return parts.scheme, hostname, port


def _allowed_jira_url(url: str) -> bool:
    site = _site_url(url)
    if site is None:
        return False
    scheme, hostname, port = site
    with_port = f"{hostname}:{port}" if port is not None else hostname
    patterns = [p.strip().lower() for p in settings.ALLOWED_JIRA_HOSTS if p.strip()]
    if scheme == "http":
        # Plain http only for hosts named exactly in the setting (the local stand-in), never for a wildcard match.
        return any(with_port == p for p in patterns if "*" not in p)
    # A pattern with a port names host and port; one without names the host (on any port, as before).
    return any(fnmatch.fnmatchcase(with_port if ":" in p else hostname, p) for p in patterns)


def _validate_install_payload(payload: object) -> dict:
    if not isinstance(payload, dict):
        raise ValidationFailed({"body": "must be a JSON object"})
    errors = {}

    def text(name: str, *, required: bool, max_length: int = MAX_KEY_LENGTH) -> str:
        value = payload.get(name, "")
        if value is None:
            value = ""
        if not isinstance(value, str):
            errors[name] = "must be a string"
            return ""
        if required and not value:
            errors[name] = "is required"
        elif len(value) > max_length:
            errors[name] = f"must be at most {max_length} characters"
        elif not value.isprintable():
            # Control characters, line breaks and lone surrogates (which no database driver can encode).
            errors[name] = "must not contain control characters or invalid Unicode"
        return value

    data = {
        "client_key": text("clientKey", required=True),
        "shared_secret": text("sharedSecret", required=True, max_length=MAX_SECRET_LENGTH),
        "base_url": text("baseUrl", required=True).rstrip("/"),
        "display_url": text("displayUrl", required=False).rstrip("/"),
        "product_type": text("productType", required=False, max_length=32) or "jira",
        "entitlement_id": text("entitlementId", required=False),
        "entitlement_number": text("entitlementNumber", required=False),
        "installation_id": text("installationId", required=False),
        "key": text("key", required=False),
    }
    if data["client_key"].startswith("forge:"):
        errors["clientKey"] = "is not a valid clientKey"
    if data["base_url"] and "baseUrl" not in errors and not _allowed_jira_url(data["base_url"]):
        errors["baseUrl"] = "must be an https URL of an Atlassian site"
    if data["display_url"] and _site_url(data["display_url"]) is None:
        errors["displayUrl"] = "must be an http(s) URL"
    if data["key"] and data["key"] != settings.APP_KEY:
        errors["key"] = "is not this app's key"
    if errors:
        raise ValidationFailed(errors)
    return data


def _lifecycle_leeway() -> timedelta:
    return timedelta(seconds=settings.JWT_LEEWAY_SECONDS)


def _stale_event(tenant: Tenant, signed_at: datetime | None) -> bool:
    """Whether a Connect lifecycle event was signed before the latest one applied to this site. Jira retries
    `uninstalled`, `enabled` and `disabled` like webhooks, and a signed event verifies until its exp: delivered late
    (or replayed), it would undo what came after it (uninstall a reinstalled site, put an older install's secret
    back, disable a site enabled since). Events signed within JWT_LEEWAY_SECONDS of each other apply in the order they
    arrive: Atlassian's signing servers need not share one clock to the second, and a reinstall right after an
    uninstall must not be taken for a stale one."""
    if signed_at is None or tenant.lifecycle_signed_at is None:
        return False
    if signed_at < tenant.lifecycle_signed_at - _lifecycle_leeway():
        logger.info("stale lifecycle event ignored", extra={"tenant_id": str(tenant.id)})
        return True
    return False


@atomic
def tenant_install(*, payload: dict, signed_at: datetime | None = None) -> Tenant:
    """Idempotent upsert by clientKey. Runs only after the signed install was verified; a reinstall rotates the
    secret (the old one stops working at once in every process: tenants/selectors.py) and may change baseUrl.
    signed_at: the install's iat; an install signed before the site's latest lifecycle event changes nothing
    (_stale_event)."""
    data = _validate_install_payload(payload)
    now = timezone.now()
    tenant = Tenant.objects.filter(client_key=data["client_key"]).first()
    if tenant is not None and _stale_event(tenant, signed_at):
        return tenant
    # Forge saw this site first (a Forge call before the Connect install that names its installation).
    forge_first = (
        Tenant.objects.filter(client_key=f"forge:{data['installation_id']}").first()
        if data["installation_id"]
        else None
    )
    if tenant is None and forge_first is not None:
        # A site new to Connect: adopt that tenant (same row, same id) so its data stays with the site.
        tenant, forge_first = forge_first, None
    if tenant is None:
        tenant = Tenant(client_key=data["client_key"])
    created = tenant._state.adding
    was_uninstalled = tenant.state == TenantState.UNINSTALLED
    tenant.client_key = data["client_key"]
    tenant.base_url = data["base_url"]
    tenant.display_url = data["display_url"]
    tenant.product_type = data["product_type"]
    tenant.entitlement_id = data["entitlement_id"] or tenant.entitlement_id
    tenant.entitlement_number = data["entitlement_number"] or tenant.entitlement_number
    tenant.installation_id = data["installation_id"] or tenant.installation_id
    tenant.set_shared_secret(data["shared_secret"])
    if created or was_uninstalled:
        tenant.state = TenantState.INSTALLED
        tenant.uninstalled_at = None
    tenant.installed_at = now
    tenant.install_generation += 1  # every token minted before this install is refused (tenants/auth/panel.py)
    tenant.lifecycle_signed_at = signed_at or tenant.lifecycle_signed_at
    try:
        tenant.full_clean()
    except DjangoValidationError as exc:
        # The checks above should leave nothing for the model to refuse; if they do, it is still the caller's 400.
        raise ValidationFailed({_PAYLOAD_NAMES.get(k, k): "; ".join(v) for k, v in exc.message_dict.items()}) from None
    if forge_first is not None:
        _take_forge_fields(tenant, forge_first)
    tenant.save()
    if forge_first is not None:
        _tenant_merge(source=forge_first, target=tenant)
    logger.info("tenant installed", extra={"tenant_id": str(tenant.id), "new_tenant": created})
    return tenant


def _take_forge_fields(tenant: Tenant, forge_first: Tenant) -> None:
    """What only the Forge tenant knows of the site (cloudId, the product API's base and the system token), so the
    site's background calls work at once, without waiting for its next Forge call."""
    tenant.cloud_id = tenant.cloud_id or forge_first.cloud_id
    tenant.forge_api_base_url = tenant.forge_api_base_url or forge_first.forge_api_base_url
    if forge_first.forge_system_token_encrypted and not tenant.forge_system_token_encrypted:
        # Still the ciphertext: a secret is never in clear outside core.crypto.
        tenant.forge_system_token_encrypted = forge_first.forge_system_token_encrypted
        tenant.forge_system_token_expires_at = forge_first.forge_system_token_expires_at
    tenant.workflow_rules_in_use = tenant.workflow_rules_in_use or forge_first.workflow_rules_in_use


def _tenant_merge(*, source: Tenant, target: Tenant) -> None:
    """A site with a Connect tenant whose Forge call came first has two tenants: the Connect one (its checklists from
    before the move) and `forge:<installationId>` (what its Forge panel wrote since). Connect's `installed` now names
    the installation, so both are the same site: every row of the source moves onto the target (each app moves its
    own, tenant_merging), and the source goes, so the installation finds one tenant and nothing the site wrote is left
    behind on a tenant no door reaches. Runs inside the install's transaction."""
    moved: dict[str, int] = {}
    for _receiver, counts in tenant_merging.send(sender=Tenant, source_id=str(source.pk), target_id=str(target.pk)):
        moved.update(counts)
    # Tenants' own rows: the site's API tokens (made by its admins on the Forge admin page) keep working, for the site.
    moved["tenants.SiteToken"] = SiteToken.objects.filter(tenant_id=source.pk).update(tenant_id=target.pk)
    moved["tenants.SiteTokenUse"] = SiteTokenUse.objects.filter(tenant_id=source.pk).update(tenant_id=target.pk)
    source.delete()  # post_delete: this process forgets its cached row (selectors)
    logger.info("forge tenant merged", extra={"tenant_id": str(target.pk), "source_id": str(source.pk), "moved": moved})


@atomic
def tenant_uninstall(*, client_key: str, signed_at: datetime | None = None) -> Tenant | None:
    """signed_at: the Connect uninstall's iat; one signed before the site's latest lifecycle event (a reinstall)
    changes nothing (_stale_event)."""
    tenant = Tenant.objects.filter(client_key=client_key).first()
    if tenant is None or _stale_event(tenant, signed_at):
        return tenant
    tenant.state = TenantState.UNINSTALLED
    tenant.lifecycle_signed_at = signed_at or tenant.lifecycle_signed_at
    tenant.uninstalled_at = timezone.now()
    # The secret is never trusted again: drop it rather than merely flag it.
    tenant.shared_secret_encrypted = ""
    tenant.forge_system_token_encrypted = ""
    tenant.save()
    revoked = site_tokens_revoke_all(tenant=tenant)  # credentials of the site as well: not revived by a reinstall
    logger.info("tenant uninstalled", extra={"tenant_id": str(tenant.id), "site_tokens_revoked": revoked})
    on_commit(lambda: tenant_uninstalled.send(sender=Tenant, tenant_id=str(tenant.id)))
    return tenant


@atomic
def tenant_uninstall_forge(*, installation_id: str) -> Tenant | None:
    """The Forge app left the site: the same as a Connect uninstall of that site's tenant. Of every tenant holding
    the installation, should there be two (a site split before Connect installs merged them, or a Forge call's first
    sight racing the Connect install that named the installation): the one the Forge door does not pick must not keep
    its site tokens working after the app left."""
    tenant = selectors.tenant_for_installation(installation_id, fresh=True)
    for other in Tenant.objects.filter(installation_id=installation_id).exclude(state=TenantState.UNINSTALLED):
        if tenant is None or other.pk != tenant.pk:
            tenant_uninstall(client_key=other.client_key)
    return tenant_uninstall(client_key=tenant.client_key) if tenant else None


def tenant_set_enabled(*, tenant: Tenant, enabled: bool, signed_at: datetime | None = None) -> Tenant:
    """Connect's `enabled`/`disabled`. `tenant` is the row the request authenticated with: read (or cached) before
    an uninstall that has committed since, in this process or another. So the state is written only over a row that
    is not uninstalled: a late `enabled` or `disabled` must not bring a site back from its uninstall (its site and
    panel tokens, Forge calls working again, and never purged). Nor over a row whose latest lifecycle event was
    signed after this one (signed_at, the JWT's iat: _stale_event), checked in the same conditional update."""
    now = timezone.now()
    fields = {"state": TenantState.ENABLED if enabled else TenantState.DISABLED, "updated_at": now}
    fields["enabled_at" if enabled else "disabled_at"] = now
    rows = Tenant.objects.filter(pk=tenant.pk).exclude(state=TenantState.UNINSTALLED)
    if signed_at is not None:
        fields["lifecycle_signed_at"] = signed_at
        not_after = signed_at + _lifecycle_leeway()
        rows = rows.filter(Q(lifecycle_signed_at__isnull=True) | Q(lifecycle_signed_at__lte=not_after))
    if rows.update(**fields):
        for name, value in fields.items():
            setattr(tenant, name, value)
        selectors.tenant_cache_forget([tenant])  # update() sends no post_save
    return tenant


def tenant_set_client_timing(*, tenant: Tenant, enabled: bool) -> Tenant:
    """Whether this site's panels report their timings (the monitoring beacon); staff switch it in the admin."""
    tenant.client_timing_enabled = enabled
    tenant.save(update_fields=["client_timing_enabled", "updated_at"])
    return tenant


def tenant_set_workflow_settings(*, tenant: Tenant, **values: bool) -> Tenant:
    """workflow_rules_in_use and clone_keeps_statuses (checklists/workflow): a site admin's or the app's choice."""
    fields = [name for name in ("workflow_rules_in_use", "clone_keeps_statuses") if name in values]
    for name in fields:
        setattr(tenant, name, bool(values[name]))
    if fields:
        tenant.save(update_fields=[*fields, "updated_at"])
    return tenant


def _token_expiry(token: str):
    try:
        exp = jwt.decode(token, options={"verify_signature": False}).get("exp")
    except jwt.PyJWTError:
        return None
    # Unverified and only informative: a value no datetime can hold (infinite, NaN, huge) reads as unknown.
    if isinstance(exp, bool) or not isinstance(exp, int | float) or not math.isfinite(exp):
        return None
    try:
        return datetime.fromtimestamp(exp, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def tenant_for_forge_invocation(
    *, claims: dict, system_token: str = "", reactivate: bool = False, allow_disabled: bool = False
) -> Tenant:
    """The tenant of a verified FIT, created on first sight, keyed by app.installationId. Written only when the FIT
    brings something new (first sight, a reinstall, another cloudId, apiBaseUrl or system token), so an ordinary
    Forge API call reads the (cached) row and writes nothing. A disabled site is refused (AuthError) like on every
    other front door; only the lifecycle trigger (allow_disabled) still reaches it, as Connect's lifecycle does."""
    tenant = selectors.tenant_for_installation(claims["app"]["installationId"])
    if tenant is None or not tenant.is_active or _forge_changes(tenant, claims, system_token):
        tenant = _tenant_forge_save(claims=claims, system_token=system_token, reactivate=reactivate)
    if tenant.state == TenantState.DISABLED and not allow_disabled:
        raise AuthError("tenant disabled")
    return tenant


def _forge_site_fields(tenant: Tenant, claims: dict) -> dict:
    """What a verified FIT says about its site, as the Tenant fields to hold."""
    fields = {"cloud_id": str((claims.get("context") or {}).get("cloudId") or tenant.cloud_id)[:MAX_KEY_LENGTH]}
    api_base = str(claims["app"].get("apiBaseUrl") or "")[:MAX_KEY_LENGTH]
    if api_base:
        fields["forge_api_base_url"] = api_base
    return fields


def _forge_changes(tenant: Tenant, claims: dict, system_token: str) -> bool:
    if any(getattr(tenant, name) != value for name, value in _forge_site_fields(tenant, claims).items()):
        return True
    if not system_token:
        return False
    try:
        return not tenant.forge_system_token_encrypted or crypto.decrypt(tenant.forge_system_token_encrypted) != (
            system_token
        )
    except crypto.DecryptionError:
        return True


@atomic
def _tenant_forge_save(*, claims: dict, system_token: str, reactivate: bool) -> Tenant:
    app = claims["app"]
    installation_id = app["installationId"]
    tenant = selectors.tenant_for_installation(installation_id, fresh=True)
    if tenant is None:
        site_url = str((claims.get("context") or {}).get("siteUrl") or app.get("apiBaseUrl") or "").rstrip("/")
        tenant = Tenant(
            client_key=f"forge:{installation_id}",
            installation_id=installation_id,
            base_url=site_url[:MAX_KEY_LENGTH],
            state=TenantState.INSTALLED,
            installed_at=timezone.now(),
        )
    elif tenant.state == TenantState.UNINSTALLED:
        if not reactivate:
            raise AuthError("FIT for an uninstalled tenant")
        tenant.state = TenantState.INSTALLED
        tenant.uninstalled_at = None
        tenant.installed_at = timezone.now()
        tenant.install_generation += 1
    for name, value in _forge_site_fields(tenant, claims).items():
        setattr(tenant, name, value)
    if system_token:
        tenant.forge_system_token_encrypted = crypto.encrypt(system_token)
        tenant.forge_system_token_expires_at = _token_expiry(system_token)
    tenant.save()
    return tenant


def tenant_rotate_encryption() -> int:
    """Re-encrypt every stored secret under the first key of FIELD_ENCRYPTION_KEYS. Returns how many changed."""
    rows = Tenant.objects.exclude(shared_secret_encrypted="", forge_system_token_encrypted="")
    return sum(tenant_reencrypt(tenant=tenant) for tenant in rows.iterator())


def tenant_reencrypt(*, tenant: Tenant) -> bool:
    """This row's secrets, as read, under the first key; whether any was written. Each only over the value read: a
    reinstall (a new secret), an uninstall (none) or a Forge call (a new system token) since the rotation listed the
    row wrote its own, already under the first key, and putting the old one back would lock the site out, or revive
    a secret its uninstall dropped."""
    wrote = 0
    for name in ("shared_secret_encrypted", "forge_system_token_encrypted"):
        value = getattr(tenant, name)
        if value:
            wrote += Tenant.objects.filter(pk=tenant.pk, **{name: value}).update(**{name: crypto.reencrypt(value)})
    if wrote:
        selectors.tenant_cache_forget([tenant])  # update() sends no post_save
    return bool(wrote)


def tenant_purge(*, tenant: Tenant, uninstalled_before: datetime | None = None, user=None) -> dict[str, int] | None:
    """Erase a site for good: its checklists, items, templates, history, its licenses and the contacts that only it
    had, then the tenant row. Returns what was deleted, per model (counts only). The purge is recorded in the audit
    log in the same transaction (purge_ledger: a restore never brings the site back), by `user` (staff) or the system.

    uninstalled_before: purge only if the row, read again in this transaction, is still a site uninstalled before
    then; else nothing happens and None is returned. The expiry sweep lists its sites first and purges them one by
    one, minutes apart on a big run: a site reinstalled (or adopted by a Connect install) in between is a live site
    again, with a new secret, and erasing it would leave Jira calling an app that knows it no more.

    The follow-up deletion (tenant_purge_leftovers) is queued first, before the transaction: queued after the commit,
    a broker outage lost it for good (nothing looks for a site that is gone), and what a write on its way stored after
    the purge stayed. Queued first, a purge never lands without it; if it cannot be queued, nothing is purged and the
    error goes up (the expiry sweep tries again the next day). A follow-up whose purge did not land (refused here, or
    rolled back) finds the site's row and does nothing. Not inside the transaction: the publish would hold SQLite's
    writers' turn for as long as a hung broker takes to fail it. Without a broker (tasks run at once) there is nothing
    to lose: it runs after the commit, as the purge's last step (run first, it would find the site still there)."""
    at_once = current_app.conf.task_always_eager
    if not at_once:
        _purge_leftovers_later(str(tenant.pk))
    with atomic():
        if uninstalled_before is not None and not (
            Tenant.objects.filter(
                pk=tenant.pk, state=TenantState.UNINSTALLED, uninstalled_at__lt=uninstalled_before
            ).exists()
        ):
            return None
        deleted = _site_rows_delete(str(tenant.pk))
        tenant_id = str(tenant.id)
        Tenant.objects.filter(pk=tenant.pk).delete()
        purge_record(tenant_id=tenant_id, user=user, reason="expired" if uninstalled_before is not None else "staff")
        if at_once:
            on_commit(lambda: _purge_leftovers_later(tenant_id))
    logger.info("tenant purged", extra={"tenant_id": tenant_id})
    return deleted


def tenant_erase_restored(*, tenant_id: str) -> dict[str, int]:
    """A purged site that a restore brought back (its archive was taken before the purge) erased again, as the purge
    erased it, inside the restore's transaction. No new record (the purge's stands) and no follow-up (no request can
    be writing to a site that was gone). Returns what was deleted, per model (counts only)."""
    deleted = _site_rows_delete(tenant_id)
    _total, rows = Tenant.objects.filter(pk=tenant_id).delete()
    return {**deleted, **rows}


def _site_rows_delete(tenant_id: str) -> dict[str, int]:
    """The apps holding rows of the site delete them (tenants knows none of them: see signals.py), then tenants its
    own: the site's API tokens and their audit. Those went only with the tenant row's cascade, so a token's use
    recorded by a request that authenticated before the purge stayed for good on MongoDB (no foreign key refuses it)
    with the purge's follow-up passing it by. Per model."""
    deleted: dict[str, int] = {}
    for _receiver, counts in tenant_purging.send(sender=Tenant, tenant_id=tenant_id):
        deleted.update(counts)
    for model in (SiteTokenUse, SiteToken):
        manager = model._base_manager
        deleted[model._meta.label] = manager.filter(tenant_id=tenant_id)._raw_delete(manager.db)
    return deleted


# The longest a purge's transaction can stay open: the expiry sweep's hard time limit (tasks.py; a staff purge runs in
# a request, far shorter). A follow-up that finds its site still there looks again until then.
TENANT_PURGE_LONGEST_SECONDS = 3200


def _purge_leftovers_later(tenant_id: str) -> None:
    # By its registered name (TenantsConfig.ready() imports the tasks): the tasks import these services, never the
    # other way, as in contacts. With the time it was queued: the purge starts after it (tenant_purge_leftovers_wait).
    current_app.tasks["tenants.tasks.tenant_purge_leftovers_task"].apply_async(
        args=[tenant_id, timezone.now().timestamp()], countdown=settings.TENANT_PURGE_LEFTOVERS_DELAY_SECONDS
    )


def tenant_purge_leftovers_wait(*, tenant_id: str, queued_at: float | None, now: datetime | None = None) -> float:
    """Seconds the follow-up must still wait; 0 when it runs now. Its countdown starts before the purge does, so on
    a purge longer than TENANT_PURGE_LEFTOVERS_DELAY_SECONDS it found the site's row still there (the purge not yet
    committed) and did nothing, for good; on one nearly as long it ran moments after the commit, before the writes
    on their way had ended. So the delay counts from the purge's record, and while the row is there it looks again,
    as long as a purge queued with it could still be running (after that, the purge was refused or rolled back)."""
    now = now or timezone.now()
    delay = settings.TENANT_PURGE_LEFTOVERS_DELAY_SECONDS
    if Tenant.objects.filter(pk=tenant_id).exists():
        if queued_at is None:  # queued before follow-ups carried the time: as before, nothing to do
            return 0.0
        left = queued_at + TENANT_PURGE_LONGEST_SECONDS - now.timestamp()
        return max(0.0, min(float(delay), left)) if left > 0 else 0.0
    recorded = purged_at(tenant_id)
    if recorded is None:
        return 0.0
    return max(0.0, (recorded + timedelta(seconds=delay) - now).total_seconds())


def tenant_purge_leftovers(*, tenant_id: str) -> dict[str, int]:
    """Delete again whatever rows of a purged site a write on its way stored after the purge (it authenticated
    before). The first write of an issue checks that its site still exists, but a write whose transaction began
    before the purge committed cannot see the purge, and on MongoDB no foreign key refuses its rows. Run once every
    request that started before the purge has ended (TENANT_PURGE_LEFTOVERS_DELAY_SECONDS later); nothing when the
    site's row exists. Returns what was deleted, per model (counts only)."""
    with atomic():
        if Tenant.objects.filter(pk=tenant_id).exists():
            return {}
        deleted = {model: count for model, count in _site_rows_delete(tenant_id).items() if count}
    if deleted:
        logger.warning("purged site's leftovers deleted", extra={"tenant_id": tenant_id, "deleted": deleted})
    return deleted


def tenant_purge_expired(*, now=None) -> int:
    """Purge every site uninstalled more than TENANT_PURGE_AFTER_DAYS ago; each in its own transaction."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.TENANT_PURGE_AFTER_DAYS)
    expired = Tenant.objects.filter(state=TenantState.UNINSTALLED, uninstalled_at__lt=cutoff)
    purged = 0
    for tenant in expired.iterator():
        if tenant_purge(tenant=tenant, uninstalled_before=cutoff) is not None:
            purged += 1
    return purged
