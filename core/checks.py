"""Configuration checks with ids. In production (DEBUG off) any error stops the process from starting."""

from urllib.parse import urlparse

from cryptography.fernet import Fernet
from django.conf import settings
from django.core import checks
from django.core.management.base import SystemCheckError

from . import proxy

TAG = "herochecklist_config"
_INSECURE_PREFIX = "django-insecure"


@checks.register(TAG, deploy=False)
def check_configuration(app_configs=None, **kwargs):
    errors = []
    try:
        for key in settings.FIELD_ENCRYPTION_KEYS:
            Fernet(key)
    except ValueError:
        errors.append(
            checks.Error(
                "FIELD_ENCRYPTION_KEYS holds a value that is not a Fernet key.",
                hint="Generate one with: python -c 'from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())'",
                id="herochecklist.E005",
            )
        )
    if not 1 <= settings.MARKETPLACE_PAGE_SIZE <= 50:
        # 0 reads an empty first page, which ends the poll as a success and moves its cursor past every license; past
        # the API's 50 a short page without a next link ends it early.
        errors.append(checks.Error("MARKETPLACE_PAGE_SIZE must be from 1 to 50.", id="herochecklist.E007"))
    try:
        proxy.parse(settings.OUTBOUND_PROXY_URL)
    except proxy.BadProxyURL as exc:
        # In debug too: each client would read the value its own way, or fail on the first call out. The message
        # says why, never the value (it may hold the proxy's password, and this goes to the logs).
        errors.append(
            checks.Error(
                f"OUTBOUND_PROXY_URL {exc}.",
                hint="http://host:port or https://user:password@host:port (credentials percent-encoded), "
                "or empty for no proxy.",
                id="herochecklist.E008",
            )
        )
    if settings.DEBUG:
        return errors
    secret = settings.SECRET_KEY
    if getattr(settings, "SECRET_KEY_MISSING", False) or secret.startswith(_INSECURE_PREFIX):
        errors.append(checks.Error("SECRET_KEY is not set.", id="herochecklist.E001"))
    elif len(secret) < 50 or len(set(secret)) < 5:
        errors.append(
            checks.Error("SECRET_KEY is too short or too simple (50+ random characters).", id="herochecklist.E002")
        )
    if not settings.ALLOWED_HOSTS:
        errors.append(checks.Error("ALLOWED_HOSTS is empty.", id="herochecklist.E003"))
    elif "*" in settings.ALLOWED_HOSTS:
        errors.append(checks.Error("ALLOWED_HOSTS must not contain '*'.", id="herochecklist.E003"))
    if urlparse(settings.BASE_URL).scheme != "https":
        errors.append(checks.Error("BASE_URL must be an https:// URL when DEBUG is off.", id="herochecklist.E004"))
    if not settings.FIELD_ENCRYPTION_KEYS:
        errors.append(
            checks.Error(
                "FIELD_ENCRYPTION_KEYS is not set; tenant secrets cannot be encrypted.", id="herochecklist.E006"
            )
        )
    errors.extend(_visibility_room())
    return errors


def _visibility_room() -> list:
    """A task's message stays unacknowledged while it runs (acks_late): one that may run longer than the broker's
    visibility timeout, less the margin and a minute of countdown (core/countdown.py), is handed to a second worker
    while the first still runs it. Each task's own limit once the apps are loaded, else the default one."""
    from django.apps import apps

    from .countdown import countdown_margin

    visibility = settings.CELERY_VISIBILITY_TIMEOUT
    limits = {"CELERY_TASK_TIME_LIMIT": settings.CELERY_TASK_TIME_LIMIT}
    if apps.ready:
        from celery import current_app

        limits.update(
            (name, task.time_limit)
            for name, task in current_app.tasks.items()
            if task.time_limit and not name.startswith("celery.")
        )
    return [
        checks.Error(
            f"{name}'s time limit ({limit} s) leaves less than a minute under CELERY_VISIBILITY_TIMEOUT "
            f"({visibility} s) less its margin: the task could run twice.",
            hint="Raise CELERY_VISIBILITY_TIMEOUT or lower the time limit.",
            id="herochecklist.E009",
        )
        for name, limit in limits.items()
        if limit and visibility - limit - countdown_margin(visibility) < 60
    ]


def enforce_configuration() -> None:
    """Run the configuration checks outside manage.py (gunicorn, Celery) and refuse to start on an error."""
    errors = [e for e in checks.run_checks(tags=[TAG]) if e.is_serious()]
    if errors:
        raise SystemCheckError(
            "Refusing to start with an unsafe configuration:\n" + "\n".join(f"{e.id}: {e.msg}" for e in errors)
        )
