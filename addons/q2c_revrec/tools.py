"""Exact money arithmetic for allocation and schedules.

Amounts are turned into whole multiples of the currency's rounding unit (cents for most
currencies) and split with exact fractions, so that the parts of a split always add up to the
whole: largest remainder for allocations, cumulative rounding for schedules. Rounding is half
away from zero, as ``float_round`` with ``HALF-UP``.
"""

import calendar
import math
from datetime import timedelta
from decimal import Decimal
from fractions import Fraction

from odoo.tools.float_utils import float_round


def to_fraction(value):
    """Exact fraction of a number as it is written (``0.1`` is one tenth, not its binary float)."""
    if isinstance(value, Fraction):
        return value
    if isinstance(value, float):
        return Fraction(Decimal(repr(value)))
    return Fraction(value)


def round_half_up(value):
    """Round a fraction to the nearest integer, halves away from zero."""
    sign = -1 if value < 0 else 1
    return sign * math.floor(abs(value) + Fraction(1, 2))


def to_units(amount, rounding):
    """Amount as an integer number of rounding units (``12.345`` at ``0.01`` gives ``1235``),
    half away from zero."""
    return int(float_round(amount / rounding, precision_digits=0, rounding_method="HALF-UP"))


def from_units(units, rounding):
    """Float amount of a number of rounding units."""
    return float_round(units * rounding, precision_rounding=rounding)


def largest_remainder(total_units, weights):
    """Split ``total_units`` (int) in proportion of ``weights`` (non-negative, not all zero).

    Each part gets the floor of its exact share; the units left over go one by one to the parts
    with the largest remainders (ties: the larger weight, then the earlier part). Parts with a
    zero weight get nothing. The parts add up to ``total_units`` exactly.
    """
    weights = [to_fraction(w) for w in weights]
    total_weight = sum(weights)
    if total_weight <= 0:
        raise ValueError("largest_remainder needs a positive total weight")
    sign = -1 if total_units < 0 else 1
    total = abs(total_units)
    shares = [total * w / total_weight for w in weights]
    parts = [math.floor(s) for s in shares]
    left = total - sum(parts)
    order = sorted(range(len(weights)), key=lambda i: (-(shares[i] - parts[i]), -weights[i], i))
    for i in order[:left]:
        parts[i] += 1
    return [sign * p for p in parts]


def cumulative_split(total_units, weights):
    """Split ``total_units`` (int) over periods of ``weights`` by cumulative rounding.

    Period k gets round(total * cumulated weight up to k / total weight) minus the same for
    k - 1, so the rounding never drifts and the last period absorbs it.
    """
    weights = [to_fraction(w) for w in weights]
    total_weight = sum(weights)
    if total_weight <= 0:
        raise ValueError("cumulative_split needs a positive total weight")
    parts, done, cumulated = [], 0, Fraction(0)
    for weight in weights:
        cumulated += weight
        target = round_half_up(total_units * cumulated / total_weight)
        parts.append(target - done)
        done = target
    return parts


def month_end(day):
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def month_segments(start, end):
    """Calendar-month pieces of [start, end] (both inclusive) as (first day, last day) pairs."""
    segments = []
    current = start
    while current <= end:
        last = min(month_end(current), end)
        segments.append((current, last))
        current = last + timedelta(days=1)
    return segments


def days_inclusive(first, last):
    return (last - first).days + 1
