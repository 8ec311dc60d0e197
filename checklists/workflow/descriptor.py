"""The Connect modules of the workflow features, added to the descriptor (tenants/descriptor.py) at app ready."""

from ..workflow_rules import rule_expression

DESCRIPTION = (
    "Blocks the transition until the checklist is done: all required items (default), all items, no blocked "
    "item, or one header's section. Evaluated by Jira on the checklist's progress property."
)


def _config_urls(rule: str, context: str) -> dict:
    # {validator.config} etc.: the saved configuration, for the edit and view pages to show.
    base = f"/workflow/config?rule={rule}"
    return {
        "create": {"url": f"{base}&page=create"},
        "edit": {"url": f"{base}&page=edit&config={{{context}.config}}"},
        "view": {"url": f"{base}&page=view&config={{{context}.config}}"},
    }


def workflow_modules() -> dict:
    return {
        "jiraWorkflowValidators": [
            {
                "key": "herochecklist-checklist-validator",
                "name": {"value": "Checklist complete (HeroChecklist)"},
                "description": {"value": DESCRIPTION},
                "expression": rule_expression(),
                # Shown only if the expression fails without saying why; it names what is missing otherwise.
                "errorMessage": {"value": "The checklist is not complete."},
                **_config_urls("validator", "validator"),
            }
        ],
        "jiraWorkflowConditions": [
            {
                "key": "herochecklist-checklist-condition",
                "name": {"value": "Checklist complete (HeroChecklist)"},
                "description": {"value": "Shows the transition only when the checklist is done (same options)."},
                "expression": rule_expression(condition=True),
                **_config_urls("condition", "condition"),
            }
        ],
        "jiraWorkflowPostFunctions": [
            {
                "key": "herochecklist-set-checklist",
                "name": {"value": "Set the checklist (HeroChecklist)"},
                "description": {"value": "On this transition: reset every item to to do, or apply a template."},
                "triggered": {"url": "/workflow/post-function"},
                **_config_urls("postfunction", "postFunction"),
            }
        ],
        "webhooks": [
            {"event": "jira:issue_created", "url": "/connect/webhooks/issue-created"},
            {"event": "jira:issuelink_created", "url": "/connect/webhooks/issuelink-created"},
            {"event": "jira:issue_updated", "url": "/connect/webhooks/issue-updated"},
        ],
    }
