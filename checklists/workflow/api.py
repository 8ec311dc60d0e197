"""/api/v1/settings/workflow: a site's workflow settings, read by anyone of the site, changed by Jira admins only.
`cloneKeepsStatuses`: a cloned issue's checklist keeps its statuses (else all to do); `rulesInUse`: every checklist
write marks the progress property pending first (README "Workflow rules"), on by itself once a Connect config page
is opened, to be switched on here for Forge sites."""

from ninja import Router, Schema
from pydantic import ConfigDict, StrictBool

from tenants import permissions
from tenants.services import tenant_set_workflow_settings

from ..schemas import responses

router = Router()


class WorkflowSettingsOut(Schema):
    rulesInUse: bool  # noqa: N815 (the API's field names)
    cloneKeepsStatuses: bool  # noqa: N815


class WorkflowSettingsIn(Schema):
    model_config = ConfigDict(extra="forbid")
    rulesInUse: StrictBool | None = None  # noqa: N815
    cloneKeepsStatuses: StrictBool | None = None  # noqa: N815


def _json(tenant) -> dict:
    return {"rulesInUse": tenant.workflow_rules_in_use, "cloneKeepsStatuses": tenant.clone_keeps_statuses}


@router.get("/settings/workflow", response=responses({200: WorkflowSettingsOut}, found=False))
def workflow_settings_get(request):
    return _json(request.auth.tenant)


@router.put("/settings/workflow", response=responses({200: WorkflowSettingsOut}, body=True, found=False))
def workflow_settings_put(request, payload: WorkflowSettingsIn):
    permissions.require_template_admin(request.auth, "")  # site-wide: Jira administrators only (fails closed)
    values = payload.model_dump(exclude_none=True)
    tenant = tenant_set_workflow_settings(
        tenant=request.auth.tenant,
        **{"workflow_rules_in_use" if k == "rulesInUse" else "clone_keeps_statuses": v for k, v in values.items()},
    )
    return _json(tenant)
