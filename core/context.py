"""Per-request (or per-task) context that log lines carry, and values that must never leave the process."""

from contextvars import ContextVar

request_id: ContextVar[str] = ContextVar("request_id", default="")
client_key: ContextVar[str] = ContextVar("client_key", default="")
issue_key: ContextVar[str] = ContextVar("issue_key", default="")
# Customer-provided strings seen during this request (checklist item text). The log and Sentry scrubbers redact
# any occurrence of them, so even an exception message that quotes a value cannot carry it out.
sensitive_values: ContextVar[tuple[str, ...]] = ContextVar("sensitive_values", default=())

MIN_SENSITIVE_LENGTH = 4  # shorter strings ("a", "ok") would redact half of every log line


def mark_sensitive(*values: str) -> None:
    fresh = tuple(v for v in values if isinstance(v, str) and len(v.strip()) >= MIN_SENSITIVE_LENGTH)
    if fresh:
        sensitive_values.set(sensitive_values.get() + fresh)


def reset() -> None:
    for var in (request_id, client_key, issue_key):
        var.set("")
    sensitive_values.set(())
