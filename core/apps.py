from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps
from django.db.models.signals import post_migrate


class HeroAdminConfig(admin_apps.AdminConfig):
    """The Django admin, served by our two-factor, audited admin site (core/admin_site.py)."""

    default = False

    default_site = "core.admin_site.HeroAdminSite"


class CoreConfig(AppConfig):
    default = True
    name = "core"
    verbose_name = "Core"

    def ready(self):
        from . import (
            checks,  # noqa: F401  (registers the configuration checks)
            metrics,  # noqa: F401  (connects the Celery task counters)
        )
        from .backup import backup_metric_families
        from .roles import sync_roles_after_migrate

        metrics.scrape_source_register("backup", backup_metric_families)

        post_migrate.connect(sync_roles_after_migrate, dispatch_uid="core.roles.sync")
