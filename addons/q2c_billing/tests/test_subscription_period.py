from datetime import date

from odoo.tests import BaseCase, tagged

from odoo.addons.q2c_billing.tools import period as periods


@tagged("post_install", "-at_install")
class TestSubscriptionPeriods(BaseCase):
    """Periods are inclusive [start, end]; anniversaries clamp to the month's end and are
    counted from the anchor (Jan 31 -> Feb 28 -> Mar 31), leap years included."""

    def test_add_months_clamps_from_the_anchor(self):
        anchor = date(2026, 1, 31)
        self.assertEqual(
            [periods.add_months(anchor, n) for n in range(5)],
            [
                date(2026, 1, 31),
                date(2026, 2, 28),
                date(2026, 3, 31),
                date(2026, 4, 30),
                date(2026, 5, 31),
            ],
        )
        # Leap year: Feb 29.
        self.assertEqual(periods.add_months(date(2024, 1, 31), 1), date(2024, 2, 29))
        self.assertEqual(periods.add_months(date(2024, 2, 29), 12), date(2025, 2, 28))
        self.assertEqual(periods.add_months(date(2024, 2, 29), 48), date(2028, 2, 29))
        self.assertEqual(periods.add_months(date(2026, 3, 31), -1), date(2026, 2, 28))

    def test_next_term_end_follows_the_previous_term(self):
        """A renewal term starts the day after the previous term's end and lasts whole months,
        clamped like the periods."""
        cases = [
            # Calendar year and month ends.
            (date(2026, 12, 31), 12, date(2027, 12, 31)),
            (date(2026, 12, 31), 24, date(2028, 12, 31)),
            (date(2026, 1, 31), 1, date(2026, 2, 28)),
            (date(2026, 3, 31), 1, date(2026, 4, 30)),
            (date(2026, 4, 30), 1, date(2026, 5, 31)),
            # Mid-month anniversaries.
            (date(2026, 6, 14), 12, date(2027, 6, 14)),
            (date(2026, 6, 14), 24, date(2028, 6, 14)),
            # Term starting on the 31st, next month shorter: clamped.
            (date(2026, 1, 30), 1, date(2026, 2, 27)),
            (date(2024, 1, 30), 1, date(2024, 2, 28)),
            # February 29: a term starting Mar 1 ends on Feb 29 in a leap year, Feb 28 else.
            (date(2027, 2, 28), 12, date(2028, 2, 29)),
            (date(2024, 2, 29), 12, date(2025, 2, 28)),
            (date(2024, 2, 29), 24, date(2026, 2, 28)),
            (date(2026, 2, 28), 24, date(2028, 2, 29)),
            # A term starting on Feb 29 ends the day before the clamped anniversary (Feb 28).
            (date(2024, 2, 28), 12, date(2025, 2, 27)),
        ]
        for end, months, expected in cases:
            with self.subTest(end=end, months=months):
                self.assertEqual(periods.next_term_end(end, months), expected)
        # Twelve monthly terms after a calendar year end where one yearly term does.
        end = date(2025, 12, 31)
        for _month in range(12):
            end = periods.next_term_end(end, 1)
        self.assertEqual(end, periods.next_term_end(date(2025, 12, 31), 12))

    def test_term_end_from_its_start(self):
        """A term of whole months ends the day before its anniversary, clamped like the
        periods: what quotes, ramp steps and revenue obligations use for their end dates."""
        cases = [
            (date(2026, 1, 1), 12, date(2026, 12, 31)),
            (date(2026, 6, 14), 3, date(2026, 9, 13)),
            (date(2026, 1, 31), 1, date(2026, 2, 27)),
            (date(2024, 1, 31), 1, date(2024, 2, 28)),
            (date(2024, 2, 29), 12, date(2025, 2, 27)),
            (date(2023, 3, 1), 12, date(2024, 2, 29)),
        ]
        for start, months, expected in cases:
            with self.subTest(start=start, months=months):
                self.assertEqual(periods.term_end(start, months), expected)

    def test_monthly_anniversary_periods_across_month_ends(self):
        anchor = date(2026, 1, 31)
        self.assertEqual(
            periods.period_containing(date(2026, 1, 31), anchor, 1),
            (date(2026, 1, 31), date(2026, 2, 27)),
        )
        self.assertEqual(
            periods.period_containing(date(2026, 2, 27), anchor, 1),
            (date(2026, 1, 31), date(2026, 2, 27)),
        )
        self.assertEqual(
            periods.period_containing(date(2026, 2, 28), anchor, 1),
            (date(2026, 2, 28), date(2026, 3, 30)),
        )
        self.assertEqual(
            periods.period_containing(date(2026, 3, 31), anchor, 1),
            (date(2026, 3, 31), date(2026, 4, 29)),
        )
        # Leap year: Jan 31 -> Feb 29 -> Mar 31.
        anchor = date(2024, 1, 31)
        self.assertEqual(
            periods.period_containing(date(2024, 2, 15), anchor, 1),
            (date(2024, 1, 31), date(2024, 2, 28)),
        )
        self.assertEqual(
            periods.period_containing(date(2024, 2, 29), anchor, 1),
            (date(2024, 2, 29), date(2024, 3, 30)),
        )
        # Before the anchor.
        self.assertEqual(
            periods.period_containing(date(2025, 12, 31), date(2026, 1, 31), 1),
            (date(2025, 12, 31), date(2026, 1, 30)),
        )

    def test_consecutive_periods_tile_the_calendar(self):
        for anchor in (date(2026, 1, 31), date(2024, 2, 29), date(2026, 1, 30), date(2026, 3, 1)):
            for months in (1, 2, 3, 12):
                start, end = periods.period_containing(anchor, anchor, months)
                self.assertEqual(start, anchor)
                for __ in range(30):
                    next_start, next_end = periods.period_containing(
                        end + periods.ONE_DAY, anchor, months
                    )
                    self.assertEqual(next_start, end + periods.ONE_DAY)
                    self.assertGreater(next_end, next_start)
                    start, end = next_start, next_end

    def test_quarter_year_and_calendar_anchor(self):
        self.assertEqual(periods.period_months("quarter", 1), 3)
        self.assertEqual(periods.period_months("year", 2), 24)
        self.assertEqual(periods.period_months("month", 6), 6)
        with self.assertRaises(ValueError):
            periods.period_months("week", 1)
        with self.assertRaises(ValueError):
            periods.period_months("month", 0)
        self.assertEqual(periods.calendar_anchor(date(2026, 2, 10), "month"), date(2026, 2, 1))
        self.assertEqual(periods.calendar_anchor(date(2026, 5, 10), "quarter"), date(2026, 4, 1))
        self.assertEqual(periods.calendar_anchor(date(2026, 12, 31), "quarter"), date(2026, 10, 1))
        self.assertEqual(periods.calendar_anchor(date(2026, 5, 10), "year"), date(2026, 1, 1))
        self.assertEqual(
            periods.period_containing(date(2026, 5, 15), date(2026, 4, 1), 3),
            (date(2026, 4, 1), date(2026, 6, 30)),
        )
        self.assertEqual(
            periods.period_containing(date(2024, 2, 29), date(2024, 1, 1), 12),
            (date(2024, 1, 1), date(2024, 12, 31)),
        )

    def test_daily_fraction_counts_days_inclusively(self):
        # Aug 18-31 of a 31-day month = 14/31 (CONVENTIONS.md).
        self.assertEqual(
            periods.fraction(
                date(2026, 8, 18), date(2026, 8, 31), date(2026, 8, 1), date(2026, 8, 31)
            ),
            14 / 31,
        )
        self.assertEqual(periods.days(date(2026, 8, 18), date(2026, 8, 31)), 14)
        self.assertEqual(periods.days(date(2024, 2, 1), date(2024, 2, 29)), 29)
        # Leap February: 15 of 29 days.
        self.assertEqual(
            periods.fraction(
                date(2024, 2, 15), date(2024, 2, 29), date(2024, 2, 1), date(2024, 2, 29)
            ),
            15 / 29,
        )
        # The whole period is 1, outside is 0, the part is clipped to the period.
        self.assertEqual(
            periods.fraction(
                date(2026, 8, 1), date(2026, 8, 31), date(2026, 8, 1), date(2026, 8, 31)
            ),
            1.0,
        )
        self.assertEqual(
            periods.fraction(
                date(2026, 9, 1), date(2026, 9, 30), date(2026, 8, 1), date(2026, 8, 31)
            ),
            0.0,
        )
        self.assertEqual(
            periods.fraction(
                date(2026, 7, 1), date(2026, 8, 10), date(2026, 8, 1), date(2026, 8, 31)
            ),
            10 / 31,
        )

    def test_thirty_360_fraction(self):
        # Every full month counts 30 days, a partial month its days.
        self.assertEqual(periods.days_360(date(2026, 2, 1), date(2026, 2, 28)), 30)
        self.assertEqual(periods.days_360(date(2026, 8, 1), date(2026, 8, 31)), 30)
        self.assertEqual(periods.days_360(date(2026, 1, 31), date(2026, 2, 27)), 30)
        self.assertEqual(periods.days_360(date(2026, 1, 1), date(2026, 12, 31)), 360)
        self.assertEqual(periods.days_360(date(2026, 8, 18), date(2026, 8, 31)), 14)
        self.assertEqual(
            periods.fraction(
                date(2026, 8, 18),
                date(2026, 8, 31),
                date(2026, 8, 1),
                date(2026, 8, 31),
                "thirty_360",
            ),
            14 / 30,
        )
        # A quarter: one full month (60 of 90 days remain after Jan 31).
        self.assertEqual(
            periods.fraction(
                date(2026, 2, 1),
                date(2026, 3, 31),
                date(2026, 1, 1),
                date(2026, 3, 31),
                "thirty_360",
            ),
            60 / 90,
        )
        # Never above the whole.
        self.assertLessEqual(
            periods.fraction(
                date(2026, 1, 2),
                date(2026, 1, 31),
                date(2026, 1, 1),
                date(2026, 1, 31),
                "thirty_360",
            ),
            1.0,
        )
