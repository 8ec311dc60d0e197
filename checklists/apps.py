from django.apps import AppConfig


class ChecklistsConfig(AppConfig):
    name = "checklists"

    def ready(self):
        from . import receivers  # noqa: F401 (connects the tenant lifecycle receivers)
