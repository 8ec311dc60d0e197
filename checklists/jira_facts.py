"""What the template manager and the panel show of a site's Jira setup: its issue types' names, and whether a project
is a Jira Service Management one (service desk). Display only, never a permission: asked as the app, kept per process
for a while, and when Jira does not answer the page goes on without (ids shown, the customer toggle offered as
before)."""

import logging

from core.identifiers import is_jira_id
from core.ttlcache import TTLCache
from tenants.jira import JiraClient, JiraError

logger = logging.getLogger(__name__)

FACTS_SECONDS = 600  # a renamed issue type, or a project moved to JSM, shows within 10 minutes
LOOKUP_TIMEOUT_SECONDS = 1.0  # one try, short: a page (the panel's, on its first load) waits on it, to label things
# Jira not answering in time (slow, or unreachable): the pages go on without for this long instead of each waiting
# the timeout again. An error Jira answers at once is not remembered: asking again costs nothing.
UNANSWERED_SECONDS = 60
MAX_NAME_LENGTH = 255
SERVICE_DESK = "service_desk"  # Jira's projectTypeKey of a JSM project (GET /rest/api/3/project/{id})

_facts: TTLCache = TTLCache(lambda: FACTS_SECONDS, max_entries=4096)
_unanswered: TTLCache = TTLCache(lambda: UNANSWERED_SECONDS, max_entries=4096)


def issue_type_names(tenant) -> dict[str, str]:
    """{issue type id: name} of the issue types the app sees on the site; {} when Jira cannot say."""
    return _known(("issue-types", str(tenant.pk)), tenant, "/rest/api/3/issuetype", _names) or {}


def project_is_service_desk(tenant, project_id: str) -> bool | None:
    """Whether the project is a Jira Service Management one; None when unknown (no project, or Jira cannot say)."""
    if not project_id or not is_jira_id(project_id):
        return None
    key = ("project-type", str(tenant.pk), project_id)
    kind = _known(key, tenant, f"/rest/api/3/project/{project_id}", _project_type)
    return None if kind is None else kind == SERVICE_DESK


def forget_facts() -> None:
    """Tests: each starts with nothing known."""
    _facts.clear()
    _unanswered.clear()


def _known(key, tenant, path: str, read):
    if _unanswered.peek(key):
        return None
    return _facts.get(key, lambda: _ask(key, tenant, path, read))


def _ask(key, tenant, path: str, read):
    try:
        answer = JiraClient(tenant, timeout=LOOKUP_TIMEOUT_SECONDS).request_json("GET", path, attempts=1)
    except JiraError as exc:
        logger.info("jira lookup unanswered", extra={"status": exc.status})
        if exc.status is None:  # no answer in time, or none at all
            _unanswered.put(key, True)
        return None
    return read(answer)


def _names(answer) -> dict[str, str] | None:
    if not isinstance(answer, list):
        return None
    names = {}
    for entry in answer:
        if isinstance(entry, dict) and isinstance(entry.get("name"), str) and is_jira_id(str(entry.get("id", ""))):
            names[str(entry["id"])] = entry["name"][:MAX_NAME_LENGTH]
    return names


def _project_type(answer) -> str | None:
    kind = answer.get("projectTypeKey") if isinstance(answer, dict) else None
    return kind if isinstance(kind, str) else None
