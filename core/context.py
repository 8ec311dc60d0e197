"""Per-request (or per-task) context that log lines carry, and values that must never leave the process."""

from contextvars import ContextVar

request_id: ContextVar[str] = ContextVar("request_id", default="")
client_key: ContextVar[str] = ContextVar("client_key", default="")
issue_key: ContextVar[str] = ContextVar("issue_key", default="")
# Customer-provided strings seen during this request or task (item text, names). The log and Sentry scrubbers redact
# any occurrence of them, so even an exception message that quotes a value cannot carry it out.
# A list this context owns once anything is marked (never the shared empty default): appended to in place, so a
# request or task marking every line it reads (checklists.validation.clean_line: a 20,000-contact import) costs a
# list append per value, not a copy of all marked so far (0.4 s for 20,000, growing with the square).
sensitive_values: ContextVar[tuple[str, ...] | list[str]] = ContextVar("sensitive_values", default=())

MIN_SENSITIVE_LENGTH = 4  # shorter strings ("a", "ok") would redact half of every log line


def mark_sensitive(*values: str) -> None:
    fresh = tuple(v for v in values if isinstance(v, str) and len(v.strip()) >= MIN_SENSITIVE_LENGTH)
    if fresh:
        marked = sensitive_values.get()
        if isinstance(marked, list):
            marked.extend(fresh)
        else:
            sensitive_values.set([*marked, *fresh])


def reset() -> None:
    for var in (request_id, client_key, issue_key):
        var.set("")
    sensitive_values.set(())
