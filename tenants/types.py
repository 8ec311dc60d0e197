"""What a request proved about its caller, shared by the front doors (tenants.auth) and the apps that serve them.

A module of its own so that services and selectors can name these types without importing the auth layer."""

from dataclasses import dataclass, field

from .models import Tenant


class AuthError(Exception):
    """Authentication failed. The message is for our logs; clients only ever see a generic 401."""


@dataclass(frozen=True)
class IssueRef:
    id: str
    key: str = ""
    project_id: str = ""
    issue_type_id: str = ""


@dataclass(frozen=True)
class AuthContext:
    tenant: Tenant
    account_id: str
    source: str  # "connect", "panel", "forge" or "site_token"
    issue: IssueRef | None = None  # set when the credential is bound to one issue
    forge_claims: dict | None = None
    # Forge only: the user's own Jira token (x-forge-oauth-user), used to ask Jira what this user may do.
    user_token: str = field(default="", repr=False)
    # Site API tokens only: "read" or "write", and the token's row (for the audit).
    scope: str = ""
    site_token: object = field(default=None, repr=False)

    @property
    def anonymous(self) -> bool:
        """A viewer Jira did not name (a public issue seen logged out): reads only (tenants/permissions.py)."""
        return not self.account_id
