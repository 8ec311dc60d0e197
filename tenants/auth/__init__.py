"""
Every way a request proves which Jira site and user it comes from, one module per front door:
connect (HS256 JWTs with qsh), install (Connect signed installs, RS256), forge (Forge Invocation Tokens) and panel (our
panel tokens); tokens holds what they share, dispatch the REST API's one entry point.

All failures raise AuthError, which views turn into one uniform 401; the reason is for our logs only.

The names callers use are re-exported here, so `from tenants.auth import ...` reads as before the split.
"""

from ..types import AuthContext, AuthError, IssueRef
from .connect import connect_issue_ref, verify_connect_jwt
from .dispatch import authenticate_api_request
from .forge import (
    FORGE_ISSUE_DELETED_MODULE,
    FORGE_ISSUER,
    FORGE_LIFECYCLE_MODULE,
    FORGE_PANEL_MODULE,
    FORGE_TEMPLATE_MODULES,
    fit_module,
    forge_issue_ref,
    verify_fit,
)
from .install import install_public_key, verify_install_jwt
from .panel import ADMIN_AUDIENCE, PANEL_AUDIENCE, PANEL_ISSUER, mint_admin_token, mint_panel_token, verify_panel_token
from .tokens import KID_PATTERN, MAX_TOKEN_LENGTH, expected_qsh

__all__ = [
    "ADMIN_AUDIENCE",
    "FORGE_ISSUER",
    "FORGE_ISSUE_DELETED_MODULE",
    "FORGE_LIFECYCLE_MODULE",
    "FORGE_PANEL_MODULE",
    "FORGE_TEMPLATE_MODULES",
    "KID_PATTERN",
    "MAX_TOKEN_LENGTH",
    "PANEL_AUDIENCE",
    "PANEL_ISSUER",
    "AuthContext",
    "AuthError",
    "IssueRef",
    "authenticate_api_request",
    "connect_issue_ref",
    "expected_qsh",
    "fit_module",
    "forge_issue_ref",
    "install_public_key",
    "mint_admin_token",
    "mint_panel_token",
    "verify_connect_jwt",
    "verify_fit",
    "verify_install_jwt",
    "verify_panel_token",
]
