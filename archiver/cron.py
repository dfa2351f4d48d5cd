"""A 5-field crontab string as an APScheduler trigger, read the way crontab(5) reads it.

APScheduler 3 numbers weekdays from Monday = 0, so `CronTrigger.from_crontab("0 3 * * 1")` fires on
Tuesdays and refuses 7; crontab numbers them from Sunday = 0 (7 is Sunday too). Numeric weekday
fields are translated to day names before APScheduler reads them; names and `*` pass unchanged.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")  # crontab's numbering: 0 (and 7) is Sunday
_NUMERIC_ITEM = re.compile(r"^(\*|\d+)(?:-(\d+))?(?:/(\d+))?$")


def weekdays(field: str) -> str:
    """The weekday field with crontab's numbers turned into day names; ValueError when out of range."""
    items = []
    for item in field.split(","):
        match = _NUMERIC_ITEM.match(item)
        if match is None or item == "*":
            items.append(item)  # names (mon-fri), `*`, or something APScheduler will judge
            continue
        first, last, step = match.group(1), match.group(2), match.group(3)
        if first == "*":
            if last is not None:
                raise ValueError(f"bad weekday item {item!r}")
            start, end = 0, 6
        else:
            start = int(first)
            end = int(last) if last is not None else (7 if step else start)
        if not (0 <= start <= 7 and 0 <= end <= 7) or start > end:
            raise ValueError(f"weekday {item!r} is not in 0-7 (0 and 7 are Sunday)")
        days = range(start, end + 1, int(step) if step else 1)
        items.extend(DAY_NAMES[day % 7] for day in days)
    return ",".join(dict.fromkeys(items))  # 0 and 7 both name Sunday: once is enough


def cron_trigger(text: str, timezone: dt.tzinfo = dt.UTC) -> Any:
    """The trigger for a crontab string; ValueError naming what is wrong."""
    from apscheduler.triggers.cron import CronTrigger  # imported late: costly, and most schedules are intervals

    fields = text.split()
    if len(fields) != 5:
        raise ValueError(f"expected 5 fields, got {len(fields)}")
    minute, hour, day, month, day_of_week = fields
    return CronTrigger(minute=minute, hour=hour, day=day, month=month, day_of_week=weekdays(day_of_week),
                       timezone=timezone)
