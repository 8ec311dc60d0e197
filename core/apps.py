from django.apps import AppConfig


class CoreConfig(AppConfig):
    default = True
    name = "core"
    verbose_name = "Core"

    def ready(self):
        from . import (
            checks,  # noqa: F401  (registers the configuration checks)
            db,  # noqa: F401  (SQLite writes outside a transaction take a writer's turn too)
            metrics,  # noqa: F401  (connects the Celery task counters)
        )
