from django.contrib.admin import apps as admin_apps


class HeroAdminConfig(admin_apps.AdminConfig):
    """The Django admin, served by our site: the staff console (staff/admin_site.py) with the operations pages."""

    default = False

    default_site = "operations.admin_site.HeroAdminSite"
