"""Checklists in the Jira workflow (issue #18): the rules a transition checks (validator, condition) through a Jira
expression over the `herochecklist-progress` property, the pending marker that keeps that property honest, the
post function, and the checklists that exist before anyone opens the panel (auto-apply at creation, clones, moves)."""
