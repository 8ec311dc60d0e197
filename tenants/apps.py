from django.apps import AppConfig


class TenantsConfig(AppConfig):
    name = "tenants"

    def ready(self):
        from . import (
            selectors,  # noqa: F401 (connects the tenant cache's invalidation signals)
            tasks,  # noqa: F401 (registers them: services queue them by name)
        )
