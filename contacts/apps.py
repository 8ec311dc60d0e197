from django.apps import AppConfig


class ContactsConfig(AppConfig):
    name = "contacts"

    def ready(self):
        # The receivers import the tasks, which registers them: services queue them by name (see services._queue).
        from . import receivers  # noqa: F401 (connects the tenant lifecycle receivers)
