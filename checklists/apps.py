from django.apps import AppConfig

from core.metrics import scrape_source_register


class ChecklistsConfig(AppConfig):
    name = "checklists"

    def ready(self):
        from . import receivers  # noqa: F401 (connects the tenant lifecycle receivers)
        from .monitoring import progress_lag_metric_families

        scrape_source_register("progress_sync", progress_lag_metric_families)
