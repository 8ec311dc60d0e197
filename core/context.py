"""Per-request (or per-task) context that log lines carry, and values that must never leave the process."""

import itertools
from contextvars import ContextVar

request_id: ContextVar[str] = ContextVar("request_id", default="")
client_key: ContextVar[str] = ContextVar("client_key", default="")
issue_key: ContextVar[str] = ContextVar("issue_key", default="")
MIN_SENSITIVE_LENGTH = 4  # shorter strings ("a", "ok") would redact half of every log line
# Up to this many marked values a scrub tests each one; beyond, it looks them up by the text's own substrings.
_FEW = 64
# Longer values are looked up by their first _KEY characters: long enough that values sharing a start are few even
# where many begin alike ("Contact 1…", "Check the …"); shorter ones by the whole value, one set per length.
_KEY = 12


def _substrings(text: str, length: int) -> set[str]:
    return {text[i : i + length] for i in range(len(text) - length + 1)}


class Marked(list):
    """The values one request or task marked, appended to in place (a request or task marking every line it reads,
    such as a 20,000-contact import, pays a list append per value, not a copy of all marked so far: 0.4 s for 20,000,
    growing with the square), and indexed as a scrub first needs them: a scrub then looks the text's own substrings
    up instead of searching the text for every value marked (40,000 values searched one by one: ~12 ms a log
    line; bench/scrub.py)."""

    __slots__ = ("_by_start", "_indexed", "_short")

    def __init__(self, values=()):
        super().__init__(values)
        self._by_start: dict[str, set[str]] = {}
        self._short: dict[int, set[str]] = {}
        self._indexed = 0

    def found_in(self, text: str) -> set[str]:
        """The marked values that occur in `text`."""
        if len(self) <= _FEW:
            return {value for value in self if value in text}
        for value in itertools.islice(self, self._indexed, None):
            if len(value) < _KEY:
                self._short.setdefault(len(value), set()).add(value)
            else:
                self._by_start.setdefault(value[:_KEY], set()).add(value)
        self._indexed = len(self)
        found = set().union(*(_substrings(text, length) & values for length, values in self._short.items()))
        by_start = self._by_start
        for start in _substrings(text, _KEY) & by_start.keys():
            found.update(value for value in by_start[start] if value in text)
        return found


# Customer-provided strings seen during this request or task (item text, names). The log and Sentry scrubbers redact
# any occurrence of them, so even an exception message that quotes a value cannot carry it out. A Marked list this
# context owns once anything is marked (never the shared empty default).
sensitive_values: ContextVar[tuple[str, ...] | Marked] = ContextVar("sensitive_values", default=())


def mark_sensitive(*values: str) -> None:
    fresh = tuple(v for v in values if isinstance(v, str) and len(v.strip()) >= MIN_SENSITIVE_LENGTH)
    if fresh:
        marked = sensitive_values.get()
        if isinstance(marked, Marked):
            marked.extend(fresh)
        else:
            sensitive_values.set(Marked([*marked, *fresh]))


def reset() -> None:
    for var in (request_id, client_key, issue_key):
        var.set("")
    sensitive_values.set(())
