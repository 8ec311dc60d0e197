"""Sentry, only when SENTRY_DSN is set, sending no PII and nothing our scrubber would not log."""

from . import proxy
from .scrub import scrub_data

# Modules whose frames hold people's data in their variables: a contact's name, phone number or postal address, which
# no scrubber can tell from other text by its shape. Apps register theirs (contacts/apps.py); their frames reach
# Sentry with their file, line and code, without their variables.
_FRAMES_WITHOUT_VARIABLES: set[str] = set()


def frames_without_variables(*module_prefixes: str) -> None:
    _FRAMES_WITHOUT_VARIABLES.update(module_prefixes)


def _drop_personal_variables(event):
    prefixes = tuple(_FRAMES_WITHOUT_VARIABLES)
    for part in ("exception", "threads"):
        for value in (event.get(part) or {}).get("values") or []:
            for frame in (value.get("stacktrace") or {}).get("frames") or []:
                if prefixes and (frame.get("module") or "").startswith(prefixes):
                    frame.pop("vars", None)
    return event


def before_send(event, hint):
    return scrub_data(_drop_personal_variables(event))


def before_breadcrumb(crumb, hint):
    return scrub_data(crumb)


def _proxy_options(proxy_url: str) -> dict:
    """sentry-sdk's proxy options for OUTBOUND_PROXY_URL. Left unset, the SDK reads HTTP_PROXY/HTTPS_PROXY/NO_PROXY
    from the environment; "" is its way of saying no proxy, so the environment changes nothing here either."""
    try:
        chosen = proxy.parse(proxy_url)
    except proxy.BadProxyURL:
        chosen = None  # the configuration check (E008) stops the process; until then, no proxy
    if chosen is None:
        return {"http_proxy": "", "https_proxy": ""}
    # urllib3 takes no credentials from the URL: they go as a header of their own.
    return {"http_proxy": chosen.url, "https_proxy": chosen.url, "proxy_headers": chosen.headers or None}


def init_sentry(*, dsn: str, release: str, environment: str, transport=None, proxy_url: str = "") -> None:
    # The SDK and its integrations take seconds to import: only a process that sends to Sentry pays for them
    # (settings imports this module whether or not SENTRY_DSN is set).
    import sentry_sdk
    from sentry_sdk.integrations.celery import CeleryIntegration
    from sentry_sdk.integrations.django import DjangoIntegration

    sentry_sdk.init(
        dsn=dsn,
        release=release,
        environment=environment,
        # The structured successor of send_default_pii=False, stricter: no user identity, cookies, bodies (they
        # hold checklist text and lifecycle secrets) or query values (they hold JWTs). Frame variables stay for
        # debugging; before_send scrubs them.
        data_collection={
            "user_info": False,
            "cookies": {"mode": "off"},
            "http_bodies": [],
            "url_query_params": {"mode": "off"},
            "http_headers": {"request": {"mode": "denylist", "terms": ["authorization", "cookie", "forge"]}},
            "database_query_data": False,
        },
        before_send=before_send,
        before_send_transaction=before_send,
        before_breadcrumb=before_breadcrumb,
        integrations=[DjangoIntegration(), CeleryIntegration()],
        traces_sample_rate=0.0,
        **_proxy_options(proxy_url),
        **({"transport": transport} if transport else {}),
    )
