from django.apps import AppConfig

from core.metrics import scrape_source_register
from core.sentry import frames_without_variables


class ContactsConfig(AppConfig):
    name = "contacts"

    def ready(self):
        # The receivers import the tasks, which registers them: services queue them by name (see services._queue).
        from . import receivers  # noqa: F401 (connects the tenant lifecycle receivers)
        from .monitoring import hubspot_metric_families

        scrape_source_register("hubspot", hubspot_metric_families)
        # Contacts' names (and, in a Marketplace record, phone numbers and addresses) are PII that Sentry must not get;
        # the HubSpot SDK's frames hold the same people in the request it builds.
        frames_without_variables("contacts.", "hubspot.")
