"""Django's error pages and error reports (the technical 500 page of DEBUG, AdminEmailHandler's mail, anything built
by its ExceptionReporter) with nothing in them our scrubber would not log.

Django hides a setting, a header or a cookie by its name alone (API, AUTH, TOKEN, KEY, SECRET, PASS, SIGNATURE): our
credentials also sit inside URLs whose names say nothing (OUTBOUND_PROXY_URL's user:password@, DATABASE_URL,
CACHE_URL, REDIS_URL and what settings parse out of them: DATABASES, CACHES, CELERY_BROKER_URL), and a request carries
Connect JWTs and Forge tokens in its query string and Authorization header. Here a value is shown whole or not at all:
hidden when its name is one Django or core.scrub hides, or when core.scrub would take anything out of it (one set of
rules for logs, Sentry and these pages). Always on, DEBUG or not: a developer's `make run` page is copied into tickets.
"""

from django.http import HttpRequest, QueryDict
from django.views.debug import ExceptionReporter, SafeExceptionReporterFilter

from .scrub import holds_secret, scrub_text, sensitive_key


def _sensitive_name(name) -> bool:
    if not isinstance(name, str):
        return False
    # request.META names a header HTTP_X_FORGE_OAUTH_SYSTEM; scrub's keys name it as sent, x-forge-oauth-system.
    return sensitive_key(name) or sensitive_key(name.lower().removeprefix("http_").replace("_", "-"))


class ScrubbingReporterFilter(SafeExceptionReporterFilter):
    def is_active(self, request) -> bool:
        """Always: Django's filter steps aside when DEBUG is on, and the page a developer copies is the one to keep
        clean."""
        return True

    def _hides(self, name, value) -> bool:
        try:
            by_name = bool(self.hidden_settings.search(name))
        except TypeError:
            by_name = False
        return by_name or _sensitive_name(name) or holds_secret(value, opaque=_repr_holds_secret)

    def cleanse_setting(self, key, value):
        """A setting, a META entry or a cookie: whole, or the substitute when anything in it is a secret."""
        if self._hides(key, value):
            return self.cleansed_substitute
        return super().cleanse_setting(key, value)

    def get_post_parameters(self, request):
        post = super().get_post_parameters(request)
        if not isinstance(post, QueryDict):
            return post
        cleansed = post.copy()
        for name, values in post.lists():
            if any(self._hides(name, value) for value in values):
                cleansed[name] = self.cleansed_substitute
        return cleansed

    def get_traceback_frame_variables(self, request, tb_frame):
        return [
            (name, self.cleansed_substitute if self._hides(name, value) else value)
            for name, value in super().get_traceback_frame_variables(request, tb_frame)
        ]


def _repr_holds_secret(value) -> bool:
    """An object's repr, as the page prints it (a request's repr holds its query string, a JWT)."""
    try:
        text = repr(value)
    except Exception:  # the page itself shows what the repr raised, nothing of the value
        return False
    return holds_secret(text)


class ScrubbingExceptionReporter(ExceptionReporter):
    """What the filter does not see: the request's URL and query (a panel's ?jwt=), the exception's message and the
    message of each exception it followed (a driver's error may quote its connection string)."""

    def get_traceback_data(self):
        data = super().get_traceback_data()
        if "request_insecure_uri" in data:
            data["request_insecure_uri"] = scrub_text(data["request_insecure_uri"])
        if "request_GET_items" in data and isinstance(self.request, HttpRequest):
            query = self.filter.get_post_parameters(_as_post(self.request.GET))
            data["request_GET_items"] = query.items() if hasattr(query, "items") else query
        for key in ("exception_value", "exception_notes", "user_str"):
            if isinstance(data.get(key), str):
                data[key] = scrub_text(data[key])
        for frame in data.get("frames", []):
            if frame.get("exc_cause") is not None:
                frame["exc_cause"] = scrub_text(str(frame["exc_cause"]))
        return data


def _as_post(query: QueryDict) -> HttpRequest:
    """A request whose POST is this query: the filter's rules for form fields, applied to the query string's."""
    stand_in = HttpRequest()
    stand_in.POST = query
    return stand_in
