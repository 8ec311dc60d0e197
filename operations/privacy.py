"""Atlassian personal data reporting: report the accountIds we store (each at most once per Cycle-Period, at most 90
per call), and erase every reference to an account Atlassian reports closed.

We store accountIds only (no names or emails of Jira users), so `updated` needs no refresh; `closed` replaces the
accountId everywhere with a random pseudonym, the same one within a run, so history still reads "one person did
these" without naming anyone.

A backup taken before an erasure still names the account, and a restore of it would bring the id back (and have it
reported again, which Atlassian asks never to do for a closed account). So every erasure is also recorded beside the
backups, in ERASED_FOLDER of the backups storage: one empty file per account, named by a keyed hash of its id (an
HMAC under the backup key: the ledger holds no accountId, and it lasts exactly as long as the archives that key
opens). A restore pseudonymises again, in its own transaction, every account the ledger names."""

import base64
import contextlib
import hashlib
import hmac
import logging
import os
import re
import secrets
from datetime import timedelta
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.apps import apps
from django.conf import settings
from django.core.cache import cache
from django.core.files.base import ContentFile
from django.core.files.storage import storages
from django.utils import timezone

from checklists import textformat
from checklists.models import ChangeAction, ChecklistItem
from checklists.services import checklist_versions_bump
from core import jsonbody
from core.db import atomic, chunked
from core.retry import MAX_RETRY_AFTER_SECONDS
from tenants.jira import JiraClient, JiraError
from tenants.models import Tenant

from .models import ReportedAccount

logger = logging.getLogger(__name__)

BATCH = 90  # Atlassian's limit per call
NOT_BEFORE_KEY = "personal-data-report:not-before"
CYCLE_KEY = "personal-data-report:cycle-seconds"
# The longest cycle taken from Jira's Cycle-Period (Atlassian's is a week): an account closed is erased within a
# month at worst, GDPR's time to answer. Longer, or absurd (kept with no expiry, one made every later run fail on
# the date arithmetic), is taken as this.
MAX_CYCLE = timedelta(days=30)
ACCOUNT_FIELDS = {
    "checklists.ChecklistItem": ("assignee_account_id", "created_by", "updated_by"),
    "checklists.Template": ("created_by",),
    "checklists.ChecklistChange": ("actor_account_id",),
    # The Jira admins who created and revoked a site API token, and the token audit's admin entries.
    "tenants.SiteToken": ("created_by", "revoked_by"),
    "tenants.SiteTokenUse": ("actor",),
}
# Where history documents name an assignee (checklists.services.items): an item's snapshot when added (after) or
# deleted (before), and a change of assignee (its before and after).
HISTORY_ASSIGNEE_PATHS = (
    (ChangeAction.ITEM_ADDED, "changes__after__assignee_account_id"),
    (ChangeAction.ITEM_DELETED, "changes__before__assignee_account_id"),
    (ChangeAction.ITEM_UPDATED, "changes__assignee_account_id__before"),
    (ChangeAction.ITEM_UPDATED, "changes__assignee_account_id__after"),
)
ERASED_FOLDER = "erased-accounts"
ERASED_SUFFIX = ".erased"
NEVER_REPORT = {"", "unknown", "app"}  # "app": the app itself (auto-applied templates), never a Jira account
# Actors that are no Jira account either: a site token ("app:token:<prefix>", tenants.site_tokens.token_actor) and
# the pseudonym of an account Atlassian reported closed (reporting it would send Atlassian an id it never issued).
APP_ACTOR_PREFIX = "app:"
PSEUDONYM_PREFIX = "closed-account-"
# ASCII digits, whole-value matches: `\d` admits other scripts (which float() would then read) and `$` a newline.
_ISO_DURATION = re.compile(
    r"P(?:([0-9]+)W)?(?:([0-9]+)D)?(?:T(?:([0-9]+)H)?(?:([0-9]+)M)?(?:([0-9]+(?:\.[0-9]+)?)S)?)?"
)


def parse_cycle_period(value: str) -> float | None:
    """Seconds, from '604800' or an ISO-8601 duration such as 'P7D' or 'PT168H' (both have been seen)."""
    value = (value or "").strip()
    if re.fullmatch(r"[0-9]+(\.[0-9]+)?", value):
        return float(value)
    match = _ISO_DURATION.fullmatch(value)
    if not match or value in ("P", "PT"):
        return None
    weeks, days, hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
    return (((weeks * 7 + days) * 24 + hours) * 60 + minutes) * 60 + seconds


def _bounded(seconds: object, most: timedelta) -> float | None:
    """Seconds (read from a header, or kept from one) at most `most` (a float's infinity included); None if none."""
    if not isinstance(seconds, int | float) or isinstance(seconds, bool):
        return None
    return min(float(seconds), most.total_seconds())


def stored_account_ids() -> set[str]:
    found: set[str] = set()
    for label, fields in ACCOUNT_FIELDS.items():
        model = apps.get_model(label)
        for name in fields:
            found.update(model._base_manager.exclude(**{name: ""}).values_list(name, flat=True).distinct())
    # Beside the columns: the assignees history keeps (an item's snapshot when added or deleted, and the before and
    # after of a change of assignee), which may name someone no item names any more, and a template's assignees
    # (`{@accountId}` in its text). Neither was reported, so Atlassian never told us when such an account closed.
    # Asked of the database, one distinct list per place a history document keeps an assignee: reading the documents
    # here took 17 s per 100,000 changes, past the task's time limit on a large history.
    Change = apps.get_model("checklists.ChecklistChange")
    for action, path in HISTORY_ASSIGNEE_PATHS:
        values = Change._base_manager.filter(action=action).values_list(path, flat=True).distinct()
        found.update(value for value in values if isinstance(value, str))
    for text in apps.get_model("checklists.Template")._base_manager.values_list("text", flat=True).iterator():
        found.update(textformat.assignees_named(text or ""))
    return {a for a in found - NEVER_REPORT if not a.startswith((APP_ACTOR_PREFIX, PSEUDONYM_PREFIX))}


def _reporter_client():
    """A client of any installed site: Atlassian accepts reports about accounts of every site through one of them."""
    for tenant in Tenant.objects.active().order_by("installed_at"):
        if tenant.shared_secret_encrypted or tenant.forge_system_token():
            return JiraClient(tenant)
    return None


def _walk_replace(value, old: str, new: str):
    if isinstance(value, str):
        return new if value == old else value
    if isinstance(value, list):
        return [_walk_replace(v, old, new) for v in value]
    if isinstance(value, dict):
        return {k: _walk_replace(v, old, new) for k, v in value.items()}
    return value


@atomic
def accounts_pseudonymise(account_ids: set[str]) -> dict[str, str]:
    """Replace every stored reference to these accounts (assignee, author, history, a template's assignees, a site
    token's creator and revoker) with a pseudonym. The ledger beside the backups is written first, inside the
    transaction: if it cannot be, nothing is erased and the next run tries again; if the erasure then rolls back, the
    ledger names an account Atlassian reported closed all the same, and a restore erasing it is right."""
    erased_accounts_record(account_ids)
    pseudonyms = {account: f"{PSEUDONYM_PREFIX}{secrets.token_hex(8)}" for account in account_ids}
    # Panels show assignees: their checklists get a new version, so the erased id is not shown from an open panel or
    # from the items a process holds for the version it last read.
    assigned = ChecklistItem._base_manager.filter(assignee_account_id__in=list(account_ids))
    touched = set(assigned.values_list("checklist_id", flat=True))
    for label, fields in ACCOUNT_FIELDS.items():
        model = apps.get_model(label)
        for name in fields:
            for account, pseudonym in pseudonyms.items():
                model._base_manager.filter(**{name: account}).update(**{name: pseudonym})
    # History keeps before/after values (an assignee change names the accounts): rewrite those documents.
    Change = apps.get_model("checklists.ChecklistChange")
    for chunk in chunked(Change._base_manager.only("pk", "changes"), 1000):
        for change in chunk:
            rewritten = change.changes
            for account, pseudonym in pseudonyms.items():
                rewritten = _walk_replace(rewritten, account, pseudonym)
            if rewritten != change.changes:
                Change._base_manager.filter(pk=change.pk).update(changes=rewritten)
    Template = apps.get_model("checklists.Template")
    for account, pseudonym in pseudonyms.items():
        for template in Template._base_manager.filter(text__contains=f"@{account}").only("pk", "text"):
            renamed = textformat.assignee_renamed(template.text, account, pseudonym)
            if renamed != template.text:
                Template._base_manager.filter(pk=template.pk).update(text=renamed)
    checklist_versions_bump(checklist_ids=touched)
    ReportedAccount.objects.filter(account_id__in=account_ids).delete()
    return pseudonyms


def _erasure_keys() -> list[bytes]:
    """The keys of the erased accounts' ledger, one per backup key (the first one writes): derived from it, which
    otherwise only ever derives the archives' keys, so the ledger lasts exactly as long as the archives it opens."""
    return [
        HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"herochecklist-erased-accounts-v1").derive(
            base64.urlsafe_b64decode(encoded.encode())
        )
        for encoded in settings.BACKUP_ENCRYPTION_KEYS
    ]


def _erasure_mark(key: bytes, account_id: str) -> str:
    return hmac.new(key, account_id.encode(), hashlib.sha256).hexdigest()


def erased_accounts_record(account_ids) -> int:
    """The ledger file of each of these closed accounts that has none yet; returns how many were written."""
    storage = storages["backups"]
    key = _erasure_keys()[0]
    written = 0
    for account in sorted(account_ids):
        name = f"{ERASED_FOLDER}/{_erasure_mark(key, account)}{ERASED_SUFFIX}"
        if not storage.exists(name):
            storage.save(name, ContentFile(b""))
            written += 1
    return written


def erased_account_marks(*, beside: str | None = None) -> set[str]:
    """The keyed hashes the ledger beside the backups holds: the backups storage's, and when `beside` names an archive
    file outside it (copied to a new host), those of the folder next to that file too, as the purge ledger's
    (tenants.purge_ledger.purge_ledger_read): copied with the archive as the README says, it was not read, and the
    accounts it names came back. No folder: nothing erased yet. Any other failure to read it goes up (a restore must
    not go on without it)."""
    names: list[str] = []
    with contextlib.suppress(FileNotFoundError):
        names = storages["backups"].listdir(ERASED_FOLDER)[1]
    if beside is not None:
        folder = os.path.join(os.path.dirname(os.path.abspath(beside)), ERASED_FOLDER)
        if os.path.isdir(folder):
            names = [*names, *os.listdir(folder)]
    return {name.removesuffix(ERASED_SUFFIX) for name in names if name.endswith(ERASED_SUFFIX)}


def erased_accounts_again(marks: set[str]) -> int:
    """After a restore, inside its transaction: every stored account the ledger names as erased (under any backup
    key) is pseudonymised again. Returns how many accounts."""
    if not marks:
        return 0
    keys = _erasure_keys()
    # The accounts reported too: an archive brings back the row of an account reported before it closed, which may be
    # named nowhere else any more (accounts_pseudonymise deletes those rows).
    candidates = stored_account_ids() | set(ReportedAccount.objects.values_list("account_id", flat=True))
    again = {a for a in candidates if any(_erasure_mark(key, a) in marks for key in keys)}
    if again:
        accounts_pseudonymise(again)
        logger.warning("restore erased closed accounts again", extra={"count": len(again)})
    return len(again)


def _closed_accounts(response) -> set[str]:
    """The accounts a report's answer says are closed (200; 204 says none is). Read by the one parser of JSON from
    outside (core.jsonbody): an answer that is not JSON, or nests thousands deep, is a JiraError, not a crash."""
    if response.status_code != 200:
        return set()
    try:
        body = jsonbody.loads(response.content)
    except jsonbody.BadJson:
        raise JiraError("the personal data report's answer is not JSON", response.status_code) from None
    if not isinstance(body, dict) or not isinstance(body.get("accounts", []), list):
        raise JiraError("the personal data report's answer has no list of accounts", response.status_code)
    return {
        entry["accountId"]
        for entry in body.get("accounts", [])
        if isinstance(entry, dict) and entry.get("status") == "closed" and isinstance(entry.get("accountId"), str)
    }


def personal_data_report(*, now=None) -> dict:
    """One reporting run: what is due, in batches of 90, stopping at the first 429 until its Retry-After."""
    now = now or timezone.now()
    # Both bounded as read too: a value kept before they were bounded when stored still stopped every run.
    not_before = cache.get(NOT_BEFORE_KEY)
    if not_before and now < not_before <= now + timedelta(seconds=MAX_RETRY_AFTER_SECONDS):
        return {"reported": 0, "closed": 0, "waiting_until": not_before.isoformat()}
    cycle = timedelta(
        seconds=_bounded(cache.get(CYCLE_KEY), MAX_CYCLE) or settings.PERSONAL_DATA_DEFAULT_CYCLE_HOURS * 3600
    )
    stored = stored_account_ids()
    last = dict(ReportedAccount.objects.values_list("account_id", "reported_at"))
    # An account we no longer store anywhere (its site purged, its items gone) is no longer ours to report, and its
    # id is not kept here either: the record of having reported it would be the last copy of it.
    gone = sorted(set(last) - stored)
    for start in range(0, len(gone), 1000):
        ReportedAccount.objects.filter(account_id__in=gone[start : start + 1000]).delete()
    due = sorted(a for a in stored if a not in last or last[a] <= now - cycle)
    outcome: dict[str, Any] = {"due": len(due), "reported": 0, "closed": 0}
    if not due:
        return outcome
    client = _reporter_client()
    if client is None:
        outcome["skipped"] = "no installed site to report through"
        return outcome
    for start in range(0, len(due), BATCH):
        batch = due[start : start + BATCH]
        body = {
            "accounts": [
                {"accountId": a, "updatedAt": (last.get(a) or now).isoformat().replace("+00:00", "Z")} for a in batch
            ]
        }
        try:
            response = client.request("POST", settings.PERSONAL_DATA_REPORT_PATH, json=body, attempts=1)
        except JiraError as exc:
            if exc.status == 429:
                wait = _bounded(parse_cycle_period(exc.retry_after), timedelta(seconds=MAX_RETRY_AFTER_SECONDS)) or 60.0
                cache.set(NOT_BEFORE_KEY, now + timedelta(seconds=wait), timeout=int(wait) + 60)
                outcome["waiting_until"] = (now + timedelta(seconds=wait)).isoformat()
            else:
                outcome["error"] = str(exc)
            break
        if (seconds := parse_cycle_period(response.headers.get("Cycle-Period", ""))) is not None:
            cache.set(CYCLE_KEY, _bounded(seconds, MAX_CYCLE), timeout=None)
        try:
            closed = _closed_accounts(response) & set(batch)  # never act on an id we did not ask about
        except JiraError as exc:
            # An answer we cannot read: nothing of this batch counts as reported, so the next run sends it again.
            outcome["error"] = str(exc)
            break
        for account in set(batch) - closed:
            ReportedAccount.objects.update_or_create(account_id=account, defaults={"reported_at": now})
        if closed:
            accounts_pseudonymise(closed)
        outcome["reported"] += len(batch)
        outcome["closed"] += len(closed)
    return outcome
