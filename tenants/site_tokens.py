"""
Site API tokens: created and revoked by a site's Jira admins (the app's admin page), used by Jira Automation, scripts
and AI agents as `Authorization: Bearer hc_<prefix>_<secret>` on /api/v1 and /mcp.

A token is shown once, when it is created; only its SHA-256 is kept (see SiteToken). Every use is audited
(SiteTokenUse: which token, what action; never the token, a query string or a body).
"""

import hashlib
import hmac
import re
import secrets
import time

from django.conf import settings
from django.utils import timezone

from core.counters import window_count
from core.db import CommitUnknown, atomic, landed
from core.exceptions import NotFound, ValidationFailed

from .models import SiteToken, SiteTokenScope, SiteTokenUse, Tenant

TOKEN_PREFIX = "hc_"
MAX_TOKENS_PER_SITE = 50
MAX_TOKEN_NAME = 100
# hc_ + 12 hex (the lookup prefix, 48 bits: unique index, collisions retried) + _ + 43 base64url (256 bits).
TOKEN_SHAPE = re.compile(r"hc_(?P<prefix>[0-9a-f]{12})_(?P<secret>[A-Za-z0-9_-]{43})", re.ASCII)


def token_actor(token: SiteToken) -> str:
    """Who a token is in history and audit rows: the app (an `app:` id, never a Jira accountId), naming the token."""
    return f"app:token:{token.prefix}"


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def site_token_create(*, tenant: Tenant, name: str, scope: str, created_by: str) -> tuple[SiteToken, str]:
    """(row, the token in clear). The clear token exists only in this return value: shown once, never stored.
    `name` has passed the one text rule (checklists.validation.clean_line) at the door above this layer."""
    errors = {}
    if not isinstance(name, str) or not name or len(name) > MAX_TOKEN_NAME:
        errors["name"] = f"must be 1 to {MAX_TOKEN_NAME} characters"
    if scope not in SiteTokenScope.values:
        errors["scope"] = "must be read or write"
    if errors:
        raise ValidationFailed(errors)
    for _ in range(3):  # a 48-bit prefix collides about never; the unique index makes sure
        prefix = secrets.token_hex(6)
        token = f"{TOKEN_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
        try:
            with atomic():
                Tenant.objects.hold(tenant.pk)
                if SiteToken.objects.filter(tenant=tenant, revoked_at=None).count() >= MAX_TOKENS_PER_SITE:
                    raise ValidationFailed({"tokens": f"cannot exceed {MAX_TOKENS_PER_SITE} active on one site"})
                if SiteToken.objects.filter(prefix=prefix).exists():
                    continue
                row = SiteToken.objects.create(
                    tenant=tenant,
                    name=name,
                    scope=scope,
                    prefix=prefix,
                    secret_hash=_digest(token),
                    created_by=created_by,
                )
                SiteTokenUse.objects.create(tenant=tenant, token=row, actor=created_by, action="token created")
        except CommitUnknown:
            # The commit's reply was lost. The token is shown only in this answer: "reload" left a live token whose
            # secret nobody ever saw, and the admin's retry made another. This one is known here: if it landed, it
            # is the answer; if it never did, it is made again (a new token: this one was never shown either).
            if landed(SiteToken.objects.filter(prefix=prefix, secret_hash=_digest(token)).exists):
                return SiteToken.objects.get(prefix=prefix), token
            continue
        return row, token
    raise ValidationFailed({"tokens": "could not create a token; try again"})


@atomic
def site_token_revoke(*, tenant: Tenant, token_id, revoked_by: str) -> SiteToken:
    """Revoking is final and takes effect on the next request (no cache holds tokens). Revoking twice is a no-op."""
    row = SiteToken.objects.filter(tenant=tenant, id=token_id).first()
    if row is None:
        raise NotFound("no such token for this site")
    if row.revoked_at is None:
        SiteToken.objects.filter(id=row.id).update(revoked_at=timezone.now(), revoked_by=revoked_by)
        SiteTokenUse.objects.create(tenant=tenant, token=row, actor=revoked_by, action="token revoked")
        row.refresh_from_db()
    return row


APP_UNINSTALLED = "app:uninstalled"  # who revoked the tokens an uninstall ended (never a Jira accountId)


def site_tokens_revoke_all(*, tenant: Tenant, revoked_by: str = APP_UNINSTALLED) -> int:
    """Revoke every live token of a site (its uninstall), each with its audit row. Returns how many. Refused only
    while the site was uninstalled, they came back with a reinstall: tokens a site's admins forgot, or uninstalled
    the app to cut off, worked again without anyone creating them."""
    rows = list(SiteToken.objects.filter(tenant=tenant, revoked_at=None))
    if not rows:
        return 0
    SiteToken.objects.filter(id__in=[r.id for r in rows]).update(revoked_at=timezone.now(), revoked_by=revoked_by)
    SiteTokenUse.objects.bulk_create(
        SiteTokenUse(tenant=tenant, token=row, actor=revoked_by, action="token revoked") for row in rows
    )
    return len(rows)


RATE_LIMITED = "rate limited"  # the one audit row of a token's calls past its limit in a minute


def site_token_record_use(token: SiteToken, action: str) -> None:
    """One audit row per use. A write per call is the price of "every use audited"; it never holds up a failure.

    Recorded when the token authenticates, before the rate limit refuses a call, so refused calls are counted here
    too: every refused call wrote a row, and a token holder could make the database store as many as they could send.
    Now at most twice what the limit admits in a clock minute (API_RATE_LIMIT_PER_MINUTE, the throttle's own window),
    then one RATE_LIMITED row, then none until the next minute. Twice, not once: the throttle may turn a call away a
    little early (core.counters.window_take) and admit a later one, which must still be recorded."""
    most = 2 * settings.API_RATE_LIMIT_PER_MINUTE
    count = window_count(f"token-audit:{token.pk}:{int(time.time() // 60)}", ttl_seconds=120)
    if count is not None and count > most + 1:
        return
    if count is not None and count == most + 1:
        action = RATE_LIMITED
    SiteTokenUse.objects.create(tenant_id=token.tenant_id, token=token, actor=token_actor(token), action=action[:120])


def site_token_for(token: str) -> SiteToken | None:
    """The live token row this clear token is, or None: unknown shape, unknown prefix, wrong secret, revoked."""
    match = TOKEN_SHAPE.fullmatch(token)
    if match is None:
        return None
    row = SiteToken.objects.select_related("tenant").filter(prefix=match.group("prefix")).first()
    # Constant-time comparison of the digests, so response time says nothing about how much of a guess was right.
    if row is None or not hmac.compare_digest(row.secret_hash, _digest(token)) or row.revoked_at is not None:
        return None
    return row


def site_tokens_json(tenant: Tenant) -> list[dict]:
    """The admin page's list: never the token or its hash; the prefix tells them apart, the last use is audited."""
    rows = list(SiteToken.objects.filter(tenant=tenant).order_by("-created_at")[:200])
    return [site_token_json(row) for row in rows]


def site_token_json(row: SiteToken) -> dict:
    last = (
        SiteTokenUse.objects.filter(token=row, actor=token_actor(row)).order_by("-created_at").first()
        if row.pk
        else None
    )
    return {
        "id": str(row.id),
        "name": row.name,
        "scope": row.scope,
        "prefix": f"{TOKEN_PREFIX}{row.prefix}",
        "createdBy": row.created_by,
        "createdAt": row.created_at.isoformat(),
        "revokedAt": row.revoked_at.isoformat() if row.revoked_at else None,
        "lastUsedAt": last.created_at.isoformat() if last else None,
        "lastAction": last.action if last else None,
    }
