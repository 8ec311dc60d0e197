"""Django's technical 500 page and its error reports (core/reporting.py): credentials inside URL settings whose names
Django does not hide, their parsed forms, and a request's JWTs and tokens never show; plain settings still do."""

import sys

import pytest
from django.conf import settings as django_settings
from django.test import RequestFactory
from django.utils.log import AdminEmailHandler
from django.views.debug import ExceptionReporter, technical_500_response

# One distinct secret per place a credential can sit, each a plain word so HTML escaping cannot hide a leak.
PROXY_PASSWORD = "Pr0xyPassw0rdAlpha"
DB_PASSWORD = "DbPassw0rdBravo"
CACHE_PASSWORD = "CachePassw0rdCharlie"
BROKER_PASSWORD = "BrokerPassw0rdDelta"
RATE_PASSWORD = "RatePassw0rdEcho"
SENTRY_KEY = "0123456789abcdef0123456789abcdef"
MAIL_PASSWORD = "MailPassw0rdFoxtrot"
ENCODED_PASSWORD = "Enc%2FPassw0rdGolf"  # percent-encoded in its URL: "Enc/Passw0rdGolf" once parsed
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJjbGllbnQta2V5In0.c2lnbmF0dXJlLWJ5dGVzQQ"
FIT = "eyJraWQiOiJmb3JnZSJ9.eyJhcHAiOnsiaWQiOiJhcmkifX0.Zm9yZ2Utc2lnbmF0dXJl"
FORGE_SYSTEM_TOKEN = "forge-system-token-HotelIndia42"
SHARED_SECRET = "shared-secret-Juliet77"
SECRETS = [
    PROXY_PASSWORD,
    DB_PASSWORD,
    CACHE_PASSWORD,
    BROKER_PASSWORD,
    RATE_PASSWORD,
    SENTRY_KEY,
    MAIL_PASSWORD,
    "Passw0rdGolf",
    JWT.split(".")[2],
    FIT.split(".")[2],
    FORGE_SYSTEM_TOKEN,
    SHARED_SECRET,
]


@pytest.fixture
def credentials(settings):
    settings.DEBUG = True  # a developer's `make run`: Django's own filter steps aside for frames and forms then
    settings.OUTBOUND_PROXY_URL = f"http://corp:{PROXY_PASSWORD}@proxy.internal:3128"
    settings.DATABASE_URL = f"mongodb://app:{DB_PASSWORD}@db1.internal:27017,db2.internal:27017/hc?replicaSet=rs0"
    settings.CACHE_URL = f"redis://:{CACHE_PASSWORD}@cache.internal:6379/1"
    settings.REDIS_URL = f"rediss://worker:{BROKER_PASSWORD}@broker.internal:6380/0"
    settings.RATE_LIMIT_REDIS_URL = f"redis://limiter:{RATE_PASSWORD}@limits.internal:6379/2"
    settings.SENTRY_DSN = f"https://{SENTRY_KEY}@o123.ingest.sentry.io/456"
    # Their parsed forms, under names Django does not hide either.
    settings.CELERY_BROKER_URL = settings.CELERY_RESULT_BACKEND = settings.REDIS_URL
    settings.REPORTING_TEST_DATABASES = {"default": {"ENGINE": "django_mongodb_backend", "HOST": settings.DATABASE_URL}}
    settings.REPORTING_TEST_CACHES = {"default": {"LOCATION": settings.CACHE_URL, "OPTIONS": {"db": 1}}}
    settings.REPORTING_TEST_ENCODED = [("broker", f"amqp://user:{ENCODED_PASSWORD}@mq.internal//")]
    settings.EMAIL_HOST_PASSWORD = MAIL_PASSWORD
    # What must still show.
    settings.REPORTING_TEST_PLAIN = "https://api.example.test/plain-and-public"
    settings.REPORTING_TEST_TIMEOUTS = {"connect": 3.5, "name": "plain-nested-value"}


def _raise_with_secrets_in_scope():
    broker = django_settings.CELERY_BROKER_URL  # noqa: F841 (a frame variable the page lists)
    dsn = django_settings.SENTRY_DSN  # noqa: F841
    parsed = {"host": "db1.internal", "url": django_settings.DATABASE_URL}  # noqa: F841
    plain_local = "plain-local-value"  # noqa: F841
    raise ConnectionError(f"could not reach {django_settings.REDIS_URL} nor {django_settings.EMAIL_HOST_PASSWORD}")


def _request():
    return RequestFactory().post(
        f"/api/issue/panel?jwt={JWT}&page=2",
        data={"sharedSecret": SHARED_SECRET, "note": f"Bearer {FIT}", "title": "plain-form-value"},
        HTTP_AUTHORIZATION=f"JWT {JWT}",
        HTTP_X_FORGE_OAUTH_SYSTEM=FORGE_SYSTEM_TOKEN,
        HTTP_X_PLAIN_HEADER="plain-header-value",
    )


def _exc_info():
    try:
        _raise_with_secrets_in_scope()
    except ConnectionError:
        return sys.exc_info()
    raise AssertionError("no exception")


def _assert_clean(page: str) -> None:
    leaked = [secret for secret in SECRETS if secret in page]
    assert leaked == []


def test_the_technical_500_page_shows_no_credential_and_every_plain_setting(credentials):
    request = _request()
    page = technical_500_response(request, *_exc_info()).content.decode()
    _assert_clean(page)
    # Still there: the settings, headers, fields and variables that hold nothing secret, and where things were.
    for plain in (
        "https://api.example.test/plain-and-public",
        "plain-nested-value",
        "plain-header-value",
        "plain-form-value",
        "plain-local-value",
        "OUTBOUND_TIMEOUT_SECONDS",
        "_raise_with_secrets_in_scope",
        "rediss://[redacted]@broker.internal",  # the exception's message, its credentials out
    ):
        assert plain in page, plain
    assert "page" in page and "REPORTING_TEST_DATABASES" in page  # the query's plain key and the setting's name


def test_the_text_report_mailed_to_admins_shows_no_credential(credentials):
    request = _request()
    exc_info = _exc_info()
    # AdminEmailHandler builds its reporter from DEFAULT_EXCEPTION_REPORTER, as it would for a mail.
    reporter = AdminEmailHandler().reporter_class(request, *exc_info, is_email=True)
    assert isinstance(reporter, ExceptionReporter)
    for text in (reporter.get_traceback_text(), reporter.get_traceback_html()):
        _assert_clean(text)
        assert "https://api.example.test/plain-and-public" in text
