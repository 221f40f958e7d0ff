"""Billing periods and proration fractions (pure functions, no Odoo dependency).

Conventions (docs: readme/USAGE.md, "Periods and proration"):

- a period is ``[start, end]`` in dates, both inclusive; the next period starts the day after;
- periods are counted from an *anchor* date: period ``k`` starts ``k x months`` after the anchor,
  the day of the month clamped to the month's last day, always from the anchor and never from the
  previous period (anchor Jan 31: Jan 31, Feb 28 (29 in leap years), Mar 31, Apr 30, ...);
- anniversary alignment: the anchor is the first billed day; calendar alignment: the anchor is
  the first day of the calendar month, quarter or year containing it;
- ``daily`` proration: days in the part / days in the period, both counted inclusively;
- ``thirty_360``: every full month counts 30 days, a partial month its days (at most 30);
  the fraction is the part's 30/360 days over the period's.
"""

import calendar
from datetime import date, timedelta

PERIOD_MONTHS = {"month": 1, "quarter": 3, "year": 12}
ONE_DAY = timedelta(days=1)


def period_months(billing_period, interval=1):
    """Length in months of a billing period (``month``, ``quarter``, ``year``) x interval."""
    if billing_period not in PERIOD_MONTHS:
        raise ValueError(f"unknown billing period {billing_period!r}")
    if not interval or int(interval) < 1:
        raise ValueError(f"the billing interval must be at least 1, got {interval!r}")
    return PERIOD_MONTHS[billing_period] * int(interval)


def add_months(anchor, months):
    """``anchor`` plus ``months`` months, the day clamped to the last day of the month."""
    index = anchor.year * 12 + anchor.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    return date(year, month, min(anchor.day, calendar.monthrange(year, month)[1]))


def term_end(start, months):
    """Last day of a term of ``months`` months starting on ``start``: the day before the same
    day ``months`` months later, clamped to the month's last day (Jan 31 + 1 -> Feb 27, Feb 28
    in leap years)."""
    return add_months(start, months) - ONE_DAY


def next_term_end(end, months):
    """Last day of the term of ``months`` months that follows a term ending on ``end``: the next
    term starts the day after ``end`` and ends the day before the same day ``months`` months
    later (clamped to the month's last day): Dec 31 + 12 -> Dec 31, Feb 28 2027 + 12 -> Feb 29
    2028, Jan 30 + 1 -> Feb 27 (Feb 28 in leap years)."""
    return term_end(end + ONE_DAY, months)


def calendar_anchor(day, billing_period):
    """First day of the calendar month, quarter or year containing ``day``."""
    if billing_period == "month":
        return day.replace(day=1)
    if billing_period == "quarter":
        return date(day.year, (day.month - 1) // 3 * 3 + 1, 1)
    if billing_period == "year":
        return date(day.year, 1, 1)
    raise ValueError(f"unknown billing period {billing_period!r}")


def period_containing(day, anchor, months):
    """The period ``(start, end)`` of ``months`` months counted from ``anchor`` that contains
    ``day`` (``day`` may be before the anchor)."""
    if months < 1:
        raise ValueError("a period lasts at least one month")
    elapsed = (day.year - anchor.year) * 12 + day.month - anchor.month
    k = elapsed // months
    start = add_months(anchor, k * months)
    while start > day:
        k -= 1
        start = add_months(anchor, k * months)
    following = add_months(anchor, (k + 1) * months)
    while following <= day:
        k += 1
        start, following = following, add_months(anchor, (k + 1) * months)
    return start, following - ONE_DAY


def days(start, end):
    """Days from ``start`` to ``end``, both inclusive (0 when ``end`` is before ``start``)."""
    return max((end - start).days + 1, 0)


def days_360(start, end):
    """Days of ``[start, end]`` under 30/360: 30 per full month (counted from ``start``), plus
    the days of the remaining partial month, at most 30."""
    if end < start:
        return 0
    full = 0
    while term_end(start, full + 1) <= end:
        full += 1
    rest = days(add_months(start, full), end)
    return 30 * full + min(rest, 30)


def fraction(part_start, part_end, period_start, period_end, policy="daily"):
    """The share of the period ``[period_start, period_end]`` that ``[part_start, part_end]``
    is worth (a float in [0, 1], full precision).

    ``daily``: days / days; ``thirty_360``: 30/360 days / 30/360 days. Any other policy
    (``none``) is prorated by day as well: the policy ``none`` only concerns amendments.
    """
    part_start = max(part_start, period_start)
    part_end = min(part_end, period_end)
    if part_end < part_start:
        return 0.0
    if (part_start, part_end) == (period_start, period_end):
        return 1.0
    if policy == "thirty_360":
        whole = days_360(period_start, period_end)
        return min(days_360(part_start, part_end) / whole, 1.0) if whole else 0.0
    return days(part_start, part_end) / days(period_start, period_end)
