from django.contrib.admin import apps as admin_apps


class HeroAdminConfig(admin_apps.AdminConfig):
    """The Django admin, served by the site assembled in herochecklist/admin_site.py."""

    default = False

    default_site = "herochecklist.admin_site.HeroAdminSite"
