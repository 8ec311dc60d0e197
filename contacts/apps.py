from django.apps import AppConfig

from core.metrics import scrape_source_register


class ContactsConfig(AppConfig):
    name = "contacts"

    def ready(self):
        # The receivers import the tasks, which registers them: services queue them by name (see services._queue).
        from . import receivers  # noqa: F401 (connects the tenant lifecycle receivers)
        from .monitoring import hubspot_metric_families

        scrape_source_register("hubspot", hubspot_metric_families)
