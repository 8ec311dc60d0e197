from django.apps import AppConfig


class CoreConfig(AppConfig):
    default = True
    name = "core"
    verbose_name = "Core"

    def ready(self):
        from . import (
            checks,  # noqa: F401  (registers the configuration checks)
            metrics,  # noqa: F401  (connects the Celery task counters)
        )
