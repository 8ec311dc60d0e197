"""The stand-in's GET /rest/api/3/issue/{issueIdOrKey}: what the app asks to turn an issue key (Jira Automation's
{{issue.key}}) into the issue's id, project and type. Answers like Jira: 404 for an issue it does not have."""

import re

_ISSUE = re.compile(r"^/rest/api/3/issue/([^/]+)$")


def issue_answer(issues: list[dict], path: str) -> tuple[int, dict] | None:
    """(status, body) when `path` is an issue read, else None (not ours to answer)."""
    match = _ISSUE.match(path)
    if not match:
        return None
    ref = match.group(1)
    issue = next((i for i in issues if ref in (i["id"], i["key"])), None)
    if issue is None:
        return 404, {"errorMessages": ["Issue does not exist or you do not have permission to see it."]}
    fields = {"project": {"id": issue["projectId"]}, "issuetype": {"id": issue["typeId"]}, "summary": issue["summary"]}
    return 200, {"id": issue["id"], "key": issue["key"], "fields": fields}
