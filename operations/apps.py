from django.apps import AppConfig

from core.metrics import scrape_source_register


class OperationsConfig(AppConfig):
    name = "operations"
    verbose_name = "Operations"

    def ready(self):
        from .backup import backup_metric_families

        scrape_source_register("backup", backup_metric_families)
