"""Reading an upstream's Retry-After (Jira, HubSpot): a header is text, and float() also reads "nan", "inf" and "-5"."""

import math

# The longest wait any Retry-After is taken to ask for. A finite but absurd one (a proxy's or a gateway's "1e9") was
# honoured whole: HubSpot's 429 blocked every worker's calls (contacts/ratelimit.py) for 31 years. An hour is past
# any limit window Jira or HubSpot states; a caller asked again after it is told to wait again.
MAX_RETRY_AFTER_SECONDS = 3600.0


def retry_after_seconds(value: object) -> float | None:
    """The wait a Retry-After header asks for, in seconds: a finite number from 0, else None (unreadable). Its HTTP-date
    form is read as None too (neither Jira nor HubSpot sends it); callers fall back to their own backoff. At most
    MAX_RETRY_AFTER_SECONDS."""
    if value is None or isinstance(value, bool):
        return None
    try:
        seconds = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return min(seconds, MAX_RETRY_AFTER_SECONDS) if math.isfinite(seconds) and seconds >= 0 else None
