"""Who a per-caller limit counts (the API's throttle, the live poll's budget, the timing beacon's): the credential's
user, or, for a viewer Jira does not name (a Connect token without `sub`: a public issue seen logged out), their
network address as the sign-in lockout counts it (staff.audit.client_network: an IPv6 caller per /64). Counted by
user alone, every anonymous viewer of a site was one caller: one client, or a few open panels polling once a second,
got all of them 429s."""

from django.http import HttpRequest

from staff.audit import client_network
from tenants.types import AuthContext


def rate_subject(request: HttpRequest, auth: AuthContext) -> str:
    return auth.account_id or f"anon:{client_network(request)}"
