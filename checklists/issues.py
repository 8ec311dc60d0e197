"""
What an issue is, asked of Jira as the app (tenants.jira.JiraClient): the id, project and type of an issue named by
its key (Jira Automation's {{issue.key}}) or by its id. An issue Jira does not have, or will not show the app, is
404; Jira not answering is 503 (JiraUnavailable, answered by the API's handler in automation.py).
"""

from dataclasses import replace

from core.exceptions import NotFound
from tenants.jira import JiraClient, JiraError, retry_after_header
from tenants.types import IssueRef

from .models import Template
from .selectors import checklist_for
from .validation import is_jira_id
from .views import ISSUE_KEY


class JiraUnavailable(Exception):
    """Jira could not tell us which issue a key names: 503, try again (Automation retries)."""

    def __init__(self, retry_after: str = "30"):
        super().__init__("Jira did not answer")
        self.retry_after = retry_after


def resolve_issue(tenant, issue_key: str) -> IssueRef:
    """The issue a key names on this site, asked of Jira as the app (keys change on a move; ids never do)."""
    if not ISSUE_KEY.fullmatch(issue_key):
        raise NotFound("not an issue key")
    issue = _asked(tenant, issue_key)
    return issue if issue.key else replace(issue, key=issue_key)


def _asked(tenant, issue_key_or_id: str) -> IssueRef:
    try:
        data = JiraClient(tenant, timeout=5).request_json(
            "GET", f"/rest/api/3/issue/{issue_key_or_id}", query={"fields": "project,issuetype"}, attempts=2
        )
        fields = data.get("fields") or {}
        return IssueRef(
            id=str(data["id"]),
            key=str(data.get("key") or ""),
            project_id=str((fields.get("project") or {}).get("id") or ""),
            issue_type_id=str((fields.get("issuetype") or {}).get("id") or ""),
        )
    except JiraError as exc:
        if exc.status in (400, 403, 404):  # Jira's answer for an issue it has not, or the app may not see
            raise NotFound("no such issue") from None
        raise JiraUnavailable(retry_after_header(exc)) from None
    except (ValueError, KeyError, TypeError, AttributeError):
        raise JiraUnavailable() from None


def issue_for_template(tenant, issue: IssueRef, template: Template) -> IssueRef:
    """`issue` with the project and type a scoped template is checked against (checklist_apply_template's rule: a
    project's or issue type's template is for those issues only). A credential Jira bound to no issue (the template
    manager's token, a site API token, a Connect context token of a page without one) names only the id, and an issue
    without a checklist has none stored: with nothing to compare, a template of any project the caller could read
    was applied to any issue they could edit. Then the checklist's stored ids are taken, else Jira is asked (as for a
    key, automation.py); an issue it will not show is 404, nothing written. An unscoped template needs neither."""
    needs_project = bool(template.project_id) and not issue.project_id
    needs_type = bool(template.issue_type_id) and not issue.issue_type_id
    if not needs_project and not needs_type:
        return issue
    checklist = checklist_for(tenant, issue.id)
    if checklist is not None:
        issue = replace(
            issue,
            key=issue.key or checklist.issue_key,
            project_id=issue.project_id or checklist.project_id,
            issue_type_id=issue.issue_type_id or checklist.issue_type_id,
        )
        if (issue.project_id or not template.project_id) and (issue.issue_type_id or not template.issue_type_id):
            return issue
    if not is_jira_id(issue.id):
        raise NotFound("not an issue id")
    found = _asked(tenant, issue.id)
    if found.id != issue.id:
        raise NotFound("no such issue")
    return replace(
        issue,
        key=issue.key or found.key,
        project_id=issue.project_id or found.project_id,
        issue_type_id=issue.issue_type_id or found.issue_type_id,
    )
