from collections.abc import Mapping
from itertools import islice

# How many bad fields an answer names: a 10,000-line import with a bad line each answers in a bounded size.
MAX_FIELDS_SHOWN = 50


class ValidationFailed(Exception):
    """Bad input. `errors` maps each bad field to a short, user-facing reason."""

    def __init__(self, errors: dict[str, str], status: int = 422):
        super().__init__("validation failed")
        self.errors = errors
        self.status = status

    def body(self, error: str = "validation_failed", names: Mapping[str, str] | None = None) -> dict:
        """The JSON answer: the first MAX_FIELDS_SHOWN bad fields (by their public `names`), and `errorCount`, the
        total, when there are more."""
        names = names or {}
        shown = islice(self.errors.items(), MAX_FIELDS_SHOWN)
        body: dict = {"error": error, "fields": {names.get(k, k): v for k, v in shown}}
        if len(self.errors) > MAX_FIELDS_SHOWN:
            body["errorCount"] = len(self.errors)
        return body


class Conflict(Exception):
    """The write lost a race or named a stale version."""

    def __init__(self, message: str, status: int = 409, *, retry_after: str = "", **details):
        super().__init__(message)
        self.message = message
        self.status = status
        self.retry_after = retry_after  # a 503's Retry-After: when a dependency said it may take the call again
        self.details = details


class NotFound(Exception):
    """Missing, or belonging to another tenant: the two are never told apart."""
