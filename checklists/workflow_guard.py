"""Never a transition on a stale property: on a site whose workflows use our rules, a checklist write first marks the
`herochecklist-progress` property pending in Jira (one PUT, before the write commits), and only the push that writes
the new counts clears the mark. The rule's expression blocks while the mark is there (rules.PENDING).

Races, each closed here:
- A push that writes clean counts while a write is between its mark and its commit: the writer registers itself in
  the shared cache first (in flight); a push that sees a writer in flight, or a version newer than the one it wrote,
  puts the mark back. The writer's own push (queued on commit) clears it.
- A burst of edits: one mark per burst (the `marked` flag, dropped by the push before it writes clean counts).
- A mark left by a write that changed nothing: the push is forced while the flag says marked.
- Jira refusing the mark: the write is refused (503), nothing saved: the checklist and Jira never disagree unmarked.
Cache down: every write marks (safe); a push then cannot see writers in flight and relies on the version check."""

import contextlib
import logging

from django.core.cache import cache

from core.breaker import warn_unless_skipped
from core.exceptions import Conflict
from tenants.jira import JiraClient, JiraError, retry_after_header

from .models import Checklist
from .progress import progress_property
from .workflow_rules import PROPERTY_KEY

logger = logging.getLogger(__name__)

INFLIGHT = "wf-inflight:{}:{}"
MARKED = "wf-marked:{}:{}"
INFLIGHT_SECONDS = 120  # longer than any write; a crashed writer's registration expires
MARK_TIMEOUT_SECONDS = 3.0


def _cache(call, *args, default=None):
    try:
        return call(*args)
    except Exception as exc:
        warn_unless_skipped(logger, exc, "workflow guard: cache unavailable", exc_info=True)
        return default


def _pending_value(tenant, issue_id: str) -> dict:
    checklist = Checklist.objects.filter(tenant=tenant, issue_id=issue_id).first()
    value = progress_property(checklist) if checklist else progress_property(Checklist(tenant=tenant))
    return {**value, "pending": "true"}


def mark_pending(tenant, issue_id: str, *, client: JiraClient | None = None) -> None:
    client = client or JiraClient(tenant, timeout=MARK_TIMEOUT_SECONDS)
    client.request(
        "PUT",
        f"/rest/api/3/issue/{issue_id}/properties/{PROPERTY_KEY}",
        json=_pending_value(tenant, issue_id),
        attempts=2,
    )
    _cache(cache.set, MARKED.format(tenant.id, issue_id), 1, 24 * 3600)


class Guard:
    marked = False  # this write put a mark in Jira: a push must follow, whatever the write's outcome


@contextlib.contextmanager
def write_guard(tenant, issue_id: str):
    """Around one checklist write (services/writes.py), which calls `settle` afterwards when `marked`."""
    guard = Guard()
    if not tenant.workflow_rules_in_use:
        yield guard
        return
    key = INFLIGHT.format(tenant.id, issue_id)
    _cache(cache.add, key, 0, INFLIGHT_SECONDS)
    registered = _cache(cache.incr, key) is not None
    try:
        if not _cache(cache.get, MARKED.format(tenant.id, issue_id)):
            try:
                mark_pending(tenant, issue_id)
                guard.marked = True
            except JiraError as exc:
                logger.warning("pending mark refused by Jira: write refused", extra={"status": exc.status})
                raise Conflict(
                    "Jira did not accept the checklist's pending mark, so nothing was saved. Try again in a moment.",
                    status=503,
                    reason="jira_unavailable",
                    retry_after=retry_after_header(exc),
                ) from exc
        yield guard
    finally:
        if registered:
            _cache(cache.decr, key)


def settle(tenant, issue_id: str):
    """After a write that marked: the checklist id whose push clears the mark (a refused or no-op write queues none
    of its own), or, when the issue has no checklist at all, the mark is taken away here. Returns the id or None."""
    try:
        checklist_id = Checklist.objects.filter(tenant=tenant, issue_id=issue_id).values_list("id", flat=True).first()
    except Exception:  # the database failed the write too: its error is the one to answer; the sweep catches up
        logger.warning("pending mark: could not find the checklist to push", exc_info=True)
        return None
    if checklist_id is None:
        try:
            JiraClient(tenant, timeout=MARK_TIMEOUT_SECONDS).request(
                "DELETE", f"/rest/api/3/issue/{issue_id}/properties/{PROPERTY_KEY}", attempts=2
            )
            _cache(cache.delete, MARKED.format(tenant.id, issue_id))
        except JiraError:
            logger.warning("pending mark of an issue without checklist not removed")
    return checklist_id


def push_forced(checklist) -> bool:
    """A push must write even when the version is already synced: a mark is standing in Jira."""
    return bool(_cache(cache.get, MARKED.format(checklist.tenant_id, checklist.issue_id)))


def before_push(checklist) -> None:
    _cache(cache.delete, MARKED.format(checklist.tenant_id, checklist.issue_id))


def after_push(checklist, pushed_version: int, client: JiraClient) -> None:
    """Put the mark back if a write is in flight or committed since the counts just written were read."""
    in_flight = _cache(cache.get, INFLIGHT.format(checklist.tenant_id, checklist.issue_id), default=0) or 0
    current = Checklist.objects.filter(id=checklist.id).values_list("version", flat=True).first()
    if in_flight > 0 or (current is not None and current > pushed_version):
        mark_pending(checklist.tenant, checklist.issue_id, client=client)
