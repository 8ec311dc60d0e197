import pytest

from tests.conftest import PRODUCTION_ENV

CHECK = "from django.core.management import call_command\ncall_command('check')\nprint('CHECK-PASSED')\n"
# The configuration check alone, on the settings the environment gives, without loading the apps: a fifth of a full
# `check`'s 1.8 s of CPU. A full `check` and the WSGI module refusing to load are tested once each below.
CONFIG_CHECK = (
    "from django.conf import settings\nsettings.DEBUG\n"
    "from core.checks import check_configuration\n"
    "print(' '.join(e.id for e in check_configuration() if e.is_serious()) or 'CHECK-PASSED')\n"
)


def test_production_configuration_passes(run_django):
    proc = run_django(CHECK, PRODUCTION_ENV)
    assert proc.returncode == 0, proc.stderr
    assert "CHECK-PASSED" in proc.stdout


@pytest.mark.parametrize(
    ("change", "check_id"),
    [
        ({"SECRET_KEY": ""}, "herochecklist.E001"),
        ({"SECRET_KEY": "django-insecure-abc"}, "herochecklist.E001"),
        ({"SECRET_KEY": "short"}, "herochecklist.E002"),
        ({"ALLOWED_HOSTS": ""}, "herochecklist.E003"),
        ({"ALLOWED_HOSTS": "*"}, "herochecklist.E003"),
        ({"BASE_URL": "http://checklist.example.com"}, "herochecklist.E004"),
        ({"FIELD_ENCRYPTION_KEYS": "not-a-key"}, "herochecklist.E005"),
        ({"FIELD_ENCRYPTION_KEYS": ""}, "herochecklist.E006"),
        ({"MARKETPLACE_PAGE_SIZE": "0"}, "herochecklist.E007"),
        ({"MARKETPLACE_PAGE_SIZE": "51"}, "herochecklist.E007"),
        ({"OUTBOUND_PROXY_URL": "proxy.corp:3128"}, "herochecklist.E008"),
        ({"OUTBOUND_PROXY_URL": "socks5://proxy.corp:1080"}, "herochecklist.E008"),
        ({"OUTBOUND_PROXY_URL": "http://proxy.corp:3128/some/path"}, "herochecklist.E008"),
    ],
)
def test_production_refuses_an_unsafe_setting_and_names_it(run_django, change, check_id):
    proc = run_django(CONFIG_CHECK, {**PRODUCTION_ENV, **change}, setup=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == [check_id]


def test_production_configuration_passes_the_configuration_check(run_django):
    proc = run_django(CONFIG_CHECK, PRODUCTION_ENV, setup=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["CHECK-PASSED"]


def test_a_proxy_with_credentials_passes_and_a_bad_one_is_refused_without_its_password(run_django):
    proc = run_django(
        CONFIG_CHECK, {**PRODUCTION_ENV, "OUTBOUND_PROXY_URL": "https://corp:s3cret@proxy.corp:3128"}, setup=False
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["CHECK-PASSED"]
    # In debug as well: manage.py stops, and what it prints names the setting, never the value.
    proc = run_django(CHECK, {"DEBUG": "true", "OUTBOUND_PROXY_URL": "http://corp:s3cret@proxy.corp:3128?x=1"})
    assert proc.returncode != 0 and "CHECK-PASSED" not in proc.stdout
    assert "herochecklist.E008" in proc.stderr and "OUTBOUND_PROXY_URL" in proc.stderr
    assert "s3cret" not in proc.stderr + proc.stdout


def test_manage_py_check_refuses_an_unsafe_setting(run_django):
    proc = run_django(CHECK, {**PRODUCTION_ENV, "SECRET_KEY": ""})
    assert proc.returncode != 0
    assert "herochecklist.E001" in proc.stderr
    assert "CHECK-PASSED" not in proc.stdout


def test_wsgi_application_refuses_to_load_with_an_unsafe_setting(run_django):
    # gunicorn imports this module and runs no system checks of its own.
    proc = run_django(
        "import herochecklist.wsgi\nprint('LOADED')", {**PRODUCTION_ENV, "BASE_URL": "http://x"}, setup=False
    )
    assert proc.returncode != 0
    assert "herochecklist.E004" in proc.stderr
    assert "LOADED" not in proc.stdout


def test_development_needs_no_environment_at_all(run_django):
    proc = run_django(
        "from django.conf import settings\nprint(settings.DEBUG, bool(settings.SECRET_KEY))\n" + CHECK, {}
    )
    assert proc.returncode == 0, proc.stderr
    assert "True True" in proc.stdout


def test_production_sends_hsts_for_a_year_and_security_headers(run_django):
    proc = run_django(
        "from django.test import Client\n"
        "r = Client(HTTP_HOST='checklist.example.com').get('/healthz', secure=True)\n"
        "print(r.status_code, r['Strict-Transport-Security'], r['X-Content-Type-Options'], r['Referrer-Policy'])\n",
        PRODUCTION_ENV,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == [
        "200",
        "max-age=31536000;",
        "includeSubDomains",
        "nosniff",
        "strict-origin-when-cross-origin",
    ]


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"CELERY_VISIBILITY_TIMEOUT": "240"}, "CELERY_TASK_TIME_LIMIT"),  # every task's default limit
        ({"CELERY_VISIBILITY_TIMEOUT": "1800"}, "contacts.tasks.marketplace_poll_task"),  # a task's own limit
    ],
)
def test_production_refuses_a_visibility_timeout_a_task_could_outrun(run_django, change, named):
    """A task running past the broker's visibility timeout is handed to a second worker while it runs (acks_late)."""
    proc = run_django(CHECK, {**PRODUCTION_ENV, **change})
    assert proc.returncode != 0 and "CHECK-PASSED" not in proc.stdout
    assert "herochecklist.E009" in proc.stderr and named in proc.stderr
