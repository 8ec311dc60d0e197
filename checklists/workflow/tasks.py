"""The workflow's background work: Jira's webhooks and triggers answer at once and queue these. Thin and safe to run
twice: each re-reads, and its write is a no-op the second time (or is skipped by its execution key)."""

import logging

from celery import shared_task

from core.exceptions import NotFound, ValidationFailed
from tenants.jira import JiraError
from tenants.models import Tenant
from tenants.types import IssueRef

from ..sync import checklist_progress_push
from . import services

logger = logging.getLogger(__name__)


def _issue(data: dict) -> IssueRef:
    return IssueRef(**{k: data.get(k, "") for k in ("id", "key", "project_id", "issue_type_id")})


def _push_now(checklist) -> None:
    """The property at once, not after the write's debounce: JQL, boards and the next transition see it."""
    if checklist is None:
        return
    try:
        checklist_progress_push(checklist_id=checklist.id)
    except JiraError as exc:
        logger.warning("workflow: property push failed; the write's own push retries", extra={"status": exc.status})


def _tenant(tenant_id) -> Tenant | None:
    tenant = Tenant.objects.filter(id=tenant_id).first()
    return tenant if tenant is not None and tenant.is_active else None


@shared_task(acks_late=True, ignore_result=True)
def issue_created_task(tenant_id: str, issue: dict, clone_source_id: str = "") -> None:
    tenant = _tenant(tenant_id)
    if tenant is None:
        return
    ref = _issue(issue)
    checklist = None
    if clone_source_id:
        checklist = services.checklist_copy_for_clone(tenant=tenant, issue=ref, source_issue_id=clone_source_id)
    if checklist is None:
        checklist = services.checklist_on_create(tenant=tenant, issue=ref)
    _push_now(checklist)


@shared_task(acks_late=True, ignore_result=True)
def clone_linked_task(tenant_id: str, clone_issue_id: str, source_issue_id: str) -> None:
    tenant = _tenant(tenant_id)
    if tenant is None:
        return
    ref = IssueRef(id=clone_issue_id)
    _push_now(services.checklist_copy_for_clone(tenant=tenant, issue=ref, source_issue_id=source_issue_id))


@shared_task(acks_late=True, ignore_result=True)
def post_function_task(tenant_id: str, issue: dict, config: dict, execution_key: str) -> None:
    tenant = _tenant(tenant_id)
    if tenant is None:
        return
    # Run at most once per execution: the write itself records that it was done (its history row's id), in its own
    # transaction. A mark in the cache set before the write (as here before) made a worker killed mid-write lose the
    # execution (its redelivery saw the mark and skipped it), and with the cache down an append ran twice.
    once = services.post_function_once(tenant, execution_key)
    try:
        checklist = services.checklist_post_function(tenant=tenant, issue=_issue(issue), config=config, once=once)
    except (NotFound, ValidationFailed):
        logger.warning("workflow post function: its configuration names nothing usable")
        return
    _push_now(checklist)
