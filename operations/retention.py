"""Which backups to keep. Pure: names and dates in, names out; no storage, no clock."""

from datetime import date, datetime

SATURDAY = 5


def backups_to_keep(taken: dict[str, datetime], today: date, *, daily_days: int = 8, weekly_weeks: int = 8) -> set[str]:
    """Keep every backup of the last `daily_days` days (today included), and the last backup taken on each Saturday of
    the last `weekly_weeks` weeks (a Saturday backup lives 7 * weekly_weeks days). Everything else goes.

    `taken` maps archive name -> when it was taken (UTC). A backup dated after `today` is kept (clock skew is not a
    reason to delete).

    Whatever `today` says, the newest `daily_days` backups and the last backup of each of the newest `weekly_weeks`
    Saturdays that have one are kept too: the ages are measured from one clock reading, and a run whose clock was a
    year ahead (a host booted with a wrong clock) dated its own archive a year on and deleted every other one, the
    whole history, for good. With one backup a day this keeps nothing more than the calendar does; after a gap it
    keeps the last ones before it until as many newer ones exist."""
    keep = {name for name, when in taken.items() if (today - when.date()).days < daily_days}
    last_per_saturday: dict[date, tuple[datetime, str]] = {}
    for name, when in taken.items():
        if when.weekday() == SATURDAY:
            best = last_per_saturday.get(when.date())
            if best is None or (when, name) > best:
                last_per_saturday[when.date()] = (when, name)
    saturdays = sorted(last_per_saturday)
    weekly = {day for day in saturdays if 0 <= (today - day).days < 7 * weekly_weeks}
    weekly.update(saturdays[-weekly_weeks:] if weekly_weeks > 0 else [])
    keep.update(last_per_saturday[day][1] for day in weekly)
    if daily_days > 0:
        keep.update(name for _when, name in sorted((when, name) for name, when in taken.items())[-daily_days:])
    return keep
