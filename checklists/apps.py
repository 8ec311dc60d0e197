from django.apps import AppConfig

from core.metrics import scrape_source_register
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
