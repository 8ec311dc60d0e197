from django.apps import AppConfig

from core.metrics import scrape_source_register
from core.sentry import frames_without_variables
from tenants.descriptor import descriptor_contribute


class ChecklistsConfig(AppConfig):
    name = "checklists"

    def ready(self):
        from . import receivers  # noqa: F401 (connects the tenant lifecycle receivers)
        from .monitoring import progress_lag_metric_families
        from .workflow import tasks  # noqa: F401 (Celery's autodiscovery finds checklists.tasks only)
        from .workflow.descriptor import workflow_modules

        scrape_source_register("progress_sync", progress_lag_metric_families)
        descriptor_contribute(workflow_modules)
        # Customer text (items, templates, statuses) is in these frames' variables, and no scrubber can tell it by its
        # shape until a service has marked it (core.context.mark_sensitive): a database that refuses a write at the
        # transaction's start fails before any marking, with the request's parsed body in the API's frames and in
        # ninja's. Their frames reach Sentry with file, line and code, without variables.
        frames_without_variables("checklists.", "ninja.")
