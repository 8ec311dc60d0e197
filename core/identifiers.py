"""The shapes of the identifiers Atlassian gives us, matched exactly: the whole value (fullmatch; `$` would admit a
trailing newline) and ASCII only (`\\d` and str.isdigit() admit digits of other scripts). Used by the front doors
(tenants/auth/) and by the input rules (checklists/validation.py), which build on this module."""

import re
from typing import TypeGuard

MAX_ACCOUNT_ID = 128
MAX_JIRA_ID = 20

# Atlassian accountIds: "557058:f1e2..." or a 24-character hex id; the app uses "app:..." for itself.
ACCOUNT_ID = re.compile(r"[A-Za-z0-9:_-]{1," + str(MAX_ACCOUNT_ID) + r"}")
JIRA_ID = re.compile(r"[0-9]{1,32}")


def is_account_id(value: object) -> TypeGuard[str]:
    return isinstance(value, str) and ACCOUNT_ID.fullmatch(value) is not None


def is_customer_account(account_id: str) -> bool:
    """A Jira Service Management portal-only customer: their accountIds are "qm:<uuid>:<hex>" (Atlassian's
    servicedeskapi customer reference). Such an account only ever sees a request on the portal."""
    return account_id.startswith("qm:")


def is_jira_id(value: object, *, max_length: int = MAX_JIRA_ID) -> TypeGuard[str]:
    """A Jira numeric id: 1 to max_length ASCII digits and nothing else."""
    return isinstance(value, str) and len(value) <= max_length and JIRA_ID.fullmatch(value) is not None
