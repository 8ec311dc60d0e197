"""JSON log lines on stdout, one object per line, scrubbed as a whole after formatting."""

import json
import logging
from datetime import UTC, datetime

from django.http import HttpRequest

from . import context
from .scrub import scrub_data, scrub_text, sensitive_key

# Attributes every LogRecord has; anything else on a record came from `extra=` and is logged as a field.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


_CONTEXT_KEYS = ("request_id", "client_key", "issue_key")


class RequestContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = context.request_id.get()
        record.client_key = context.client_key.get()
        record.issue_key = context.issue_key.get()
        return True


class JSONFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in _CONTEXT_KEYS:
            value = getattr(record, key, "") or getattr(context, key).get()
            if value:
                entry[key] = value
        for key, value in vars(record).items():
            if key in _STANDARD or key in _CONTEXT_KEYS or key in entry or key.startswith("_"):
                continue
            entry[key] = "[redacted]" if sensitive_key(key) else _jsonable(value)
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        # Scrub the finished entry, not its inputs: tracebacks and formatted args are where secrets hide.
        entry = {k: scrub_text(v) if isinstance(v, str) else scrub_data(v) for k, v in entry.items()}
        return json.dumps(entry, ensure_ascii=False, default=str)


def _jsonable(value):
    if isinstance(value, str | int | float | bool | type(None) | dict | list):
        return value
    if isinstance(value, HttpRequest):
        # Django's request lines (django.request: every 4xx and 5xx) pass the request itself, whose str() holds the
        # whole query string: a workflow config page's `config` carries a header's text, and a URL-encoded email
        # (%40) slips past the scrubber. The method and path say which door; query values stay out, as in Sentry.
        return f"<{value.method} {value.path}>"
    return str(value)
