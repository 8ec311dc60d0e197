"""
The checklist on the Jira Service Management customer portal: read-only, and only the items an agent marked
"visible to customer" (with the headers of their sections). Connect `serviceDeskPortalRequestViewPanels` loads
/connect/portal with a qsh JWT; Jira renders it only for people who may see the request, so nothing else is asked.
Server-rendered, no token, no script of ours: a customer can read it and do nothing else.
"""

from django.conf import settings
from django.http import JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET
from ninja import Router

from core import context
from core.middleware import jira_frame
from tenants.auth import AuthError, authenticate_api_request
from tenants.auth.forge import FORGE_PORTAL_MODULE
from tenants.decorators import connect_jwt_required
from tenants.permissions import PermissionDenied

from . import selectors
from .issues import resolve_issue
from .models import ChecklistItem
from .rendering import render_markdown
from .schemas import responses
from .statuses import SiteStatuses
from .validation import is_jira_id
from .views import ISSUE_KEY

STATUS_LABELS = {
    "todo": "To do",
    "in_progress": "In progress",
    "done": "Done",
    "skipped": "Skipped",
    "blocked": "Blocked",
}


def customer_items(items: list[ChecklistItem]) -> list[ChecklistItem]:
    """The items customers see, in order: every visible item, and each header whose section holds one."""
    shown: list[ChecklistItem] = []
    header = None
    for item in items:
        if item.is_header:
            header = item
        elif item.customer_visible:
            if header is not None:
                shown.append(header)
                header = None
            shown.append(item)
    return shown


def customer_view(tenant, issue_id: str) -> tuple[list[dict], dict]:
    """What a customer may see of a request's checklist, for both portals: each shown item's text, whether it is a
    header, its status (key, the site's name for it, done or not), and "n of m done". Nothing else: no item id,
    assignee, due date, mandatory flag or timestamp (the agents' side of the checklist)."""
    items = customer_items(selectors.checklist_items(selectors.checklist_for(tenant, issue_id)))
    # The site's own statuses count and read as the panel shows them (a custom "Shipped" may count as done).
    statuses = SiteStatuses(tenant)  # read once, and only if an item has a status of the site's own
    complete = statuses.complete
    labels = dict(STATUS_LABELS)
    if any(i.status not in labels for i in items):
        labels |= statuses.names()
    rows = [
        {
            "text": i.text,
            "textHtml": render_markdown(i.text),
            "isHeader": i.is_header,
            "status": i.status,
            "statusName": labels.get(i.status, i.status),
            "done": not i.is_header and i.status in complete,
        }
        for i in items
    ]
    visible = [r for r in rows if not r["isHeader"]]
    return rows, {"done": sum(r["done"] for r in visible), "total": len(visible)}


@require_GET
@jira_frame
@connect_jwt_required()
def portal_panel(request):
    issue_id, issue_key = request.GET.get("issueId", ""), request.GET.get("issueKey", "")
    if not is_jira_id(issue_id) or (issue_key and not ISSUE_KEY.fullmatch(issue_key)):
        return JsonResponse(
            {"error": "invalid_parameters", "fields": {"issueId": "must be a Jira issue id"}}, status=400
        )
    context.issue_key.set(issue_key)
    rows, summary = customer_view(request.tenant, issue_id)
    return render(
        request,
        "checklists/portal.html",
        {"rows": rows, "summary": summary, "all_js_url": settings.ATLASSIAN_ALL_JS_URL},
    )


class _PortalAuth:
    """A FIT from the Forge portal module only: Forge renders it for people who may see the request."""

    def __call__(self, request):
        try:
            auth = authenticate_api_request(request, forge_modules=(FORGE_PORTAL_MODULE,), customers=True)
        except AuthError as exc:
            request.auth_failure = str(exc)
            return None
        return auth if auth.source == "forge" else None


router = Router(tags=["service portal"], auth=_PortalAuth())


@router.get("/portal/checklist", response=responses({200: dict}))
def forge_portal_checklist(request):
    """The Forge portal module's read: the request of the FIT's context (its key, resolved through Jira as the app),
    with only the items visible to customers."""
    extension = ((request.auth.forge_claims or {}).get("context") or {}).get("extension") or {}
    key = str((extension.get("request") or {}).get("key") or "")
    if not key:
        raise PermissionDenied("This call comes from the service portal's request page only.")
    issue = resolve_issue(request.auth.tenant, key)
    rows, summary = customer_view(request.auth.tenant, issue.id)
    return {"issueKey": issue.key, "items": rows, "summary": summary}
