import io
import json
import logging
import logging.config

from django.conf import settings

from core import context

ITEM_TEXT = "Call Mrs Robinson about the merger"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJjbGllbnQta2V5In0.c2lnbmF0dXJlLWJ5dGVz"
EMAIL = "billing.person@acme-corp.example"
SECRET = "s3cr3t-shared-secret-value-1234567890"


def make_logger() -> tuple[logging.Logger, io.StringIO]:
    """A logger wired exactly as settings.LOGGING wires stdout, writing to a buffer we can read."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    config = settings.LOGGING
    handler.setFormatter(_build(config["formatters"]["json"]))
    handler.addFilter(_build(config["filters"]["context"]))
    logger = logging.getLogger("tests.scrub")
    logger.handlers = [handler]
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    return logger, stream


def _build(spec: dict):
    from django.utils.module_loading import import_string

    return import_string(spec["()"])()


def lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_log_line_is_one_json_object_with_request_context():
    logger, stream = make_logger()
    context.request_id.set("req-12345678")
    context.client_key.set("client-abc")
    context.issue_key.set("PROJ-7")
    try:
        logger.info("checklist updated", extra={"items": 3})
    finally:
        context.reset()
    [entry] = lines(stream)
    assert entry["message"] == "checklist updated"
    assert entry["level"] == "INFO"
    assert entry["request_id"] == "req-12345678"
    assert entry["client_key"] == "client-abc"
    assert entry["issue_key"] == "PROJ-7"
    assert entry["items"] == 3
    assert entry["time"].endswith("+00:00")


def test_no_jwt_secret_email_or_item_text_reaches_the_log():
    logger, stream = make_logger()
    context.mark_sensitive(ITEM_TEXT)
    try:
        logger.warning("GET /connect/panel?issueId=1&jwt=%s from %s", JWT, EMAIL)
        logger.warning("auth header Authorization: JWT %s", JWT)
        logger.error('payload {"sharedSecret": "%s", "text": "%s"}', SECRET, ITEM_TEXT)
        logger.info("contact", extra={"email": EMAIL, "text": ITEM_TEXT, "secret": SECRET})
        logger.info("configured secret %s", settings.SECRET_KEY)
        try:
            raise ValueError(f"could not save item {ITEM_TEXT!r} for {EMAIL}")
        except ValueError:
            logger.exception("save failed")
    finally:
        context.reset()
    out = stream.getvalue()
    assert len(lines(stream)) == 6
    for leaked in (ITEM_TEXT, JWT, EMAIL, SECRET, settings.SECRET_KEY):
        assert leaked not in out
    # The surrounding, harmless parts of each line are kept for support.
    assert "/connect/panel?issueId=1" in out
    assert "save failed" in out and "ValueError" in out


def test_item_text_is_only_redacted_while_it_is_marked():
    logger, stream = make_logger()
    context.mark_sensitive(ITEM_TEXT)
    context.reset()
    logger.info("unrelated %s", ITEM_TEXT)
    assert ITEM_TEXT in stream.getvalue()


def test_credentials_of_the_url_settings_never_reach_the_log(settings):
    # A driver's error quotes a connection string, or the password alone; neither names a secret by its shape.
    settings.DATABASE_URL = "mongodb://app:Db%2FPass-Kilo11@db1.internal:27017/hc"
    settings.CACHE_URL = "redis://:CachePass-Lima22@cache.internal:6379/1"
    settings.REDIS_URL = "rediss://worker:BrokerPass-Mike33@broker.internal:6380/0"
    settings.SENTRY_DSN = "https://fedcba9876543210fedcba9876543210@o1.ingest.sentry.io/2"
    logger, stream = make_logger()
    logger.error("could not connect to %s", "amqp://guest:GuestPass-November44@mq.internal//")
    logger.error("auth failed with %s, %s and %s", "Db/Pass-Kilo11", "CachePass-Lima22", "BrokerPass-Mike33")
    logger.error("sentry key %s refused", "fedcba9876543210fedcba9876543210")
    out = stream.getvalue()
    for leaked in ("GuestPass-November44", "Db/Pass-Kilo11", "CachePass-Lima22", "BrokerPass-Mike33", "fedcba98765"):
        assert leaked not in out
    assert "amqp://[redacted]@mq.internal//" in out  # which server it was still shows


def test_many_marked_values_are_redacted_as_one_by_one_would_be():
    """Past a few dozen marked values (a 20,000-contact import marks 40,000) a scrub looks the text's substrings up
    in an index of them (core.context.Marked): every value in the text must still go, whatever its length, however
    many share its start, marked before or after the index was first built, and nothing else. The reference: the
    same text scrubbed with only the values it holds marked (found by searching it for each), which a scrub tests
    one by one."""
    import random

    from core.scrub import REDACTED, scrub_text

    rng = random.Random(7)
    names = [f"Contact {n} {rng.randrange(10**6)}" for n in range(20_000)]  # one long shared start
    emails = [f"p{n}@ex{n % 97}.io" for n in range(20_000)]  # shorter than the index's key, many lengths
    words = ["Acme", "Acme Corp", "Acme Corporation Ltd", "Robinson"]  # values inside values: the longest goes whole
    marked = [*names, *emails, *words]
    noise = ["said", "Contact 99", "p1@ex", "Acm", "batch 17 of 200", "\u202e", "Corporation"]
    texts = []
    for _ in range(100):
        # Any values, and always one of the few short or nested ones, which a sample of 40,000 would seldom hold.
        picked = [*rng.sample(marked, rng.randrange(0, 3)), rng.choice(words + emails[:1000])]
        texts.append(" ".join(rng.sample(picked + noise, len(picked) + len(noise))))
    expected = []
    for text in texts:
        context.mark_sensitive(*(value for value in marked if value in text))
        expected.append(scrub_text(text))
        context.reset()
    context.mark_sensitive(*marked)
    try:
        assert [scrub_text(text) for text in texts] == expected
        assert sum(REDACTED in text for text in expected) > 50  # the texts did hold marked values
        late = "Marked after the index was built"
        context.mark_sensitive(late)
        assert scrub_text(f"x {late} y") == f"x {REDACTED} y"
        assert scrub_text("Contact 99 said so") == "Contact 99 said so"  # a shared start alone is not a value
    finally:
        context.reset()
