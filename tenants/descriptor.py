from django.conf import settings

PROGRESS_PROPERTY = "herochecklist-progress"

# Modules the apps above contribute (e.g. checklists' workflow rules), registered at app ready: the descriptor lives
# here, below them, and must not import them. Each returns {"moduleType": [module, ...]}, appended to the base.
_contributions: list = []


def descriptor_contribute(modules) -> None:
    if modules not in _contributions:
        _contributions.append(modules)


def build_descriptor() -> dict:
    """The Connect descriptor, from settings only, so every deployment describes itself."""
    descriptor = _base_descriptor()
    for contribute in _contributions:
        for kind, modules in contribute().items():
            descriptor["modules"].setdefault(kind, []).extend(modules)
    return descriptor


def _base_descriptor() -> dict:
    return {
        "key": settings.APP_KEY,
        "name": settings.APP_NAME,
        "description": "Checklists on Jira issues: statuses, mandatory items, templates and progress in JQL.",
        "vendor": {"name": "HeroChecklist", "url": settings.BASE_URL},
        "baseUrl": settings.BASE_URL,
        "authentication": {"type": "jwt"},
        "apiVersion": 1,
        "enableLicensing": False,
        # Least privilege: read issues, write the progress issue property.
        "scopes": ["READ", "WRITE"],
        "apiMigrations": {"signed-install": True, "context-qsh": True, "gdpr": True},
        "lifecycle": {
            "installed": "/connect/installed",
            "uninstalled": "/connect/uninstalled",
            "enabled": "/connect/enabled",
            "disabled": "/connect/disabled",
        },
        "links": {"self": f"{settings.BASE_URL}/atlassian-connect.json"},
        "modules": {
            "jiraIssueContents": [
                {
                    "key": "herochecklist-panel",
                    "name": {"value": "Checklist"},
                    "tooltip": {"value": "Add a checklist"},
                    "icon": {"width": 24, "height": 24, "url": "/static/herochecklist/icon.svg"},
                    "target": {
                        "type": "web_panel",
                        "url": "/connect/panel?issueId={issue.id}&issueKey={issue.key}"
                        "&projectId={project.id}&issueTypeId={issuetype.id}",
                    },
                    "contentPresentConditions": [
                        {
                            "condition": "entity_property_exists",
                            "params": {"entity": "issue", "propertyKey": PROGRESS_PROPERTY},
                        }
                    ],
                }
            ],
            "jiraEntityProperties": [
                {
                    "key": "herochecklist-progress-index",
                    "name": {"value": "Checklist progress"},
                    "entityType": "issue",
                    "keyConfigurations": [
                        {
                            "propertyKey": PROGRESS_PROPERTY,
                            "extractions": [
                                {"objectName": "done", "type": "number", "alias": "checklistDone"},
                                {"objectName": "total", "type": "number", "alias": "checklistTotal"},
                                {"objectName": "percent", "type": "number", "alias": "checklistPercent"},
                                {"objectName": "mandatoryOpen", "type": "number", "alias": "checklistMandatoryOpen"},
                                {"objectName": "complete", "type": "string", "alias": "checklistComplete"},
                            ],
                        }
                    ],
                }
            ],
            "webhooks": [{"event": "jira:issue_deleted", "url": "/connect/webhooks/issue-deleted"}],
            # The template manager (checklists/manager_views.py): in each project's settings, and for site admins.
            "jiraProjectAdminTabPanels": [
                {
                    "key": "herochecklist-templates-project",
                    "name": {"value": "Checklist templates"},
                    "location": "projectgroup4",
                    "weight": 100,
                    "url": "/connect/templates?projectId={project.id}",
                }
            ],
            "adminPages": [
                {
                    "key": "herochecklist-templates-admin",
                    "name": {"value": "Checklist templates and statuses"},
                    "url": "/connect/templates",
                },
                # Site API tokens for Automation, scripts and MCP (README "Site API tokens"); admins only.
                {
                    "key": "herochecklist-api-tokens",
                    "name": {"value": "Checklist API tokens"},
                    "url": "/connect/admin/api-tokens",
                },
            ],
            # The customer portal's read-only checklist: only items marked visible to customers.
            "serviceDeskPortalRequestViewPanels": [
                {
                    "key": "herochecklist-portal",
                    "url": "/connect/portal?issueId={issue.id}&issueKey={issue.key}",
                }
            ],
        },
    }
