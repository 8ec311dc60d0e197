from django.apps import AppConfig


class ContactsConfig(AppConfig):
    name = "contacts"

    def ready(self):
        from core.metrics import scrape_source_register
        from tenants.signals import tenant_uninstalled

        from .monitoring import hubspot_metric_families

        scrape_source_register("hubspot", hubspot_metric_families)

        tenant_uninstalled.connect(_offboard_on_uninstall, dispatch_uid="contacts-offboard-on-uninstall")


def _offboard_on_uninstall(sender, tenant_id, **kwargs):
    from .tasks import tenant_offboard_task

    tenant_offboard_task.delay(tenant_id)
