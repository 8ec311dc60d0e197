"""Reading an upstream's Retry-After (Jira, HubSpot): a header is text, and float() also reads "nan", "inf" and "-5"."""

import math


def retry_after_seconds(value: object) -> float | None:
    """The wait a Retry-After header asks for, in seconds: a finite number from 0, else None (unreadable). Its HTTP-date
    form is read as None too (neither Jira nor HubSpot sends it); callers fall back to their own backoff."""
    if value is None or isinstance(value, bool):
        return None
    try:
        seconds = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


# The longest wait asked by a Retry-After that is honoured: a longer one (a misbehaving upstream or proxy; HubSpot
# sends seconds, Jira up to an hour) is cut to this, so it cannot park a retry, or block every worker's calls, for days.
MAX_HONOURED_RETRY_AFTER_SECONDS = 3600.0


def honoured_retry_after(value: object) -> float | None:
    """retry_after_seconds(value), at most MAX_HONOURED_RETRY_AFTER_SECONDS."""
    seconds = retry_after_seconds(value)
    return None if seconds is None else min(seconds, MAX_HONOURED_RETRY_AFTER_SECONDS)
