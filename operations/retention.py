"""Which backups to keep. Pure: names and dates in, names out; no storage, no clock."""

from datetime import date, datetime

SATURDAY = 5


def backups_to_keep(taken: dict[str, datetime], today: date, *, daily_days: int = 8, weekly_weeks: int = 8) -> set[str]:
    """Keep every backup of the last `daily_days` days (today included), and the last backup taken on each Saturday of
    the last `weekly_weeks` weeks (a Saturday backup lives 7 * weekly_weeks days). Everything else goes.

    `taken` maps archive name -> when it was taken (UTC). A backup dated after `today` is kept (clock skew is not a
    reason to delete)."""
    keep = set()
    last_per_saturday: dict[date, tuple[datetime, str]] = {}
    for name, when in taken.items():
        age = (today - when.date()).days
        if age < daily_days:
            keep.add(name)
        if when.weekday() == SATURDAY and 0 <= age < 7 * weekly_weeks:
            best = last_per_saturday.get(when.date())
            if best is None or (when, name) > best:
                last_per_saturday[when.date()] = (when, name)
    keep.update(name for _when, name in last_per_saturday.values())
    return keep
