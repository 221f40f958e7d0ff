import psycopg2

from odoo import fields
from odoo.exceptions import UserError
from odoo.tests import tagged
from odoo.tools import mute_logger

from .common import Q2cRevrecCommon


@tagged("post_install", "-at_install")
class TestQ2cSchedule(Q2cRevrecCommon):
    def _activate(self, price, product, start, end=None, method=None):
        contract = self._q2c_contract(
            price,
            [self._q2c_obligation(product, ssp=price or 1.0, start=start, end=end, method=method)],
            date=start,
        )
        contract.action_activate()
        self.assertEqual(contract.state, "active")
        schedule = self._q2c_schedule(contract)
        self.assertEqual(
            self.usd.compare_amounts(sum(schedule.values()), price), 0, "the schedule adds up"
        )
        return contract, schedule

    def test_rev_ratable_02(self):
        """REV-RATABLE-02 (Stripe): 31 USD from Jan 15 to Feb 14, per day: Jan 17, Feb 14."""
        contract, schedule = self._activate(31.0, self.product_saas, "2026-01-15", "2026-02-14")
        self.assertEqual(schedule, {"2026-01-31": 17.0, "2026-02-28": 14.0})
        jan, feb = contract.schedule_line_ids.sorted("date")
        self.assertEqual(
            (str(jan.service_date_from), str(jan.service_date_to)), ("2026-01-15", "2026-01-31")
        )
        self.assertEqual(
            (str(feb.service_date_from), str(feb.service_date_to)), ("2026-02-01", "2026-02-14")
        )
        self.assertEqual(set(contract.schedule_line_ids.mapped("state")), {"planned"})

    def test_ratable_daily_cumulative_rounding(self):
        # 100 over Jan-Mar 2026 (90 days): cumulative 34.44 (31 d), 65.56 (59 d), 100.
        _contract, schedule = self._activate(100.0, self.product_saas, "2026-01-01", "2026-03-31")
        self.assertEqual(schedule, {"2026-01-31": 34.44, "2026-02-28": 31.12, "2026-03-31": 34.44})

    def test_ratable_daily_leap_year(self):
        _contract, schedule = self._activate(3660.0, self.product_saas, "2028-01-01", "2028-12-31")
        self.assertEqual(len(schedule), 12)
        self.assertEqual(schedule["2028-02-29"], 290.0)
        self.assertEqual(schedule["2028-01-31"], 310.0)
        self.assertEqual(schedule["2028-04-30"], 300.0)

    def test_ratable_daily_across_leap_february(self):
        # Feb 10 - Mar 9 2028: 20 days in February (leap), 9 in March, 29 in all.
        _contract, schedule = self._activate(100.0, self.product_saas, "2028-02-10", "2028-03-09")
        self.assertEqual(schedule, {"2028-02-29": 68.97, "2028-03-31": 31.03})

    def test_ratable_daily_single_day_and_year_end(self):
        _contract, schedule = self._activate(10.0, self.product_saas, "2026-12-31", "2026-12-31")
        self.assertEqual(schedule, {"2026-12-31": 10.0})
        _contract, schedule = self._activate(10.0, self.product_saas, "2026-12-30", "2027-01-02")
        self.assertEqual(schedule, {"2026-12-31": 5.0, "2027-01-31": 5.0})

    def test_ratable_monthly_full_months(self):
        _contract, schedule = self._activate(
            1200.0, self.product_support, "2026-01-01", "2026-12-31"
        )
        self.assertEqual(set(schedule.values()), {100.0})
        self.assertEqual(len(schedule), 12)

    def test_ratable_monthly_partial_months(self):
        # Jan 15 2026 - Jan 14 2027: Jan counts 17/31, Feb-Dec full, Jan 2027 14/31: 12 months.
        _contract, schedule = self._activate(
            1200.0, self.product_support, "2026-01-15", "2027-01-14"
        )
        self.assertEqual(schedule["2026-01-31"], 54.84)
        self.assertEqual(schedule["2026-02-28"], 100.0)
        self.assertEqual(schedule["2026-12-31"], 100.0)
        self.assertEqual(schedule["2027-01-31"], 45.16)

    def test_ratable_monthly_leap_february(self):
        # Feb 15 - Mar 14 2028: February weighs 15/29 (leap), March 14/31.
        _contract, schedule = self._activate(
            100.0, self.product_support, "2028-02-15", "2028-03-14"
        )
        self.assertEqual(schedule, {"2028-02-29": 53.39, "2028-03-31": 46.61})

    def test_point_in_time(self):
        contract, schedule = self._activate(500.0, self.product_setup, "2026-03-10")
        self.assertEqual(schedule, {"2026-03-10": 500.0})
        self.assertEqual(str(contract.schedule_line_ids.service_date_to), "2026-03-10")

    def test_point_in_time_leap_day_and_month_end(self):
        for day in ("2028-02-29", "2026-12-31"):
            contract, schedule = self._activate(99.99, self.product_setup, day)
            self.assertEqual(schedule, {day: 99.99})
        result = self.env["q2c.revrec.run"].run_recognition("2028-02-28")
        self.assertEqual(result["recognized"], 99.99, "the leap day is not due on Feb 28th")
        result = self.env["q2c.revrec.run"].run_recognition("2028-02-29")
        self.assertEqual(result["recognized"], 99.99)

    def test_usage_across_month_ends(self):
        contract, schedule = self._activate(0.0, self.product_usage, "2028-01-15")
        obligation = contract.obligation_ids
        obligation._q2c_add_usage_revenue(self._date("2028-01-31"), 10.01)
        obligation._q2c_add_usage_revenue(self._date("2028-02-29"), 20.02)
        self.assertEqual(self._q2c_schedule(contract), {"2028-01-31": 10.01, "2028-02-29": 20.02})
        Run = self.env["q2c.revrec.run"]
        self.assertEqual(Run.run_recognition("2028-01-31")["recognized"], 10.01)
        self.assertEqual(Run.run_recognition("2028-02-28")["recognized"], 0.0)
        self.assertEqual(Run.run_recognition("2028-02-29")["recognized"], 20.02)

    def test_usage_hook(self):
        contract, schedule = self._activate(0.0, self.product_usage, "2026-01-01")
        self.assertEqual(schedule, {})
        obligation = contract.obligation_ids
        obligation._q2c_add_usage_revenue(self._date("2026-01-31"), 12.5)
        obligation._q2c_add_usage_revenue(self._date("2026-01-31"), 7.25)
        self.assertEqual(self._q2c_schedule(contract), {"2026-01-31": 19.75})
        result = self.env["q2c.revrec.run"].run_recognition("2026-01-31")
        self.assertEqual(result["recognized"], 19.75)
        with self.assertRaisesRegex(UserError, "already posted"):
            obligation._q2c_add_usage_revenue(self._date("2026-01-31"), 1.0)

    def test_mixed_contract(self):
        contract = self._q2c_contract(
            1500.0,
            [
                self._q2c_obligation(
                    self.product_support, ssp=1200.0, start="2026-01-01", end="2026-12-31"
                ),
                self._q2c_obligation(self.product_setup, ssp=300.0, start="2026-01-20"),
            ],
        )
        contract.action_activate()  # allocates first
        self.assertEqual(contract.obligation_ids.mapped("allocated_amount"), [1200.0, 300.0])
        schedule = self._q2c_schedule(contract)
        self.assertEqual(schedule["2026-01-20"], 300.0)
        self.assertEqual(schedule["2026-01-31"], 100.0)
        self.assertEqual(self.usd.compare_amounts(sum(schedule.values()), 1500.0), 0)
        self.assertEqual(contract.planned_amount, 1500.0)

    def test_ratable_needs_dates(self):
        contract = self._q2c_contract(
            100.0, [self._q2c_obligation(self.product_saas, ssp=1.0, start="2026-01-01")]
        )
        with self.assertRaisesRegex(UserError, "SaaS Platform.*start date and an end date"):
            contract.action_activate()
        self.assertEqual(contract.state, "draft")
        self.assertFalse(contract.schedule_line_ids)

    def test_reset_to_draft_and_close(self):
        contract, _schedule = self._activate(31.0, self.product_saas, "2026-01-15", "2026-02-14")
        with self.assertRaisesRegex(UserError, "still has revenue to recognize"):
            contract.action_close()
        contract.action_draft()
        self.assertEqual(contract.state, "draft")
        self.assertFalse(contract.schedule_line_ids)
        contract.action_activate()
        self.env["q2c.revrec.run"].run_recognition("2026-02-28")
        with self.assertRaisesRegex(UserError, "posted revenue"):
            contract.action_draft()
        contract.action_close()
        self.assertEqual(contract.state, "closed")

    def test_one_line_per_obligation_and_period(self):
        contract, _schedule = self._activate(31.0, self.product_saas, "2026-01-15", "2026-02-14")
        with (
            mute_logger("odoo.sql_db"),
            self.assertRaises(psycopg2.IntegrityError),
            self.cr.savepoint(),
        ):
            self.env["q2c.revenue.schedule.line"].create(
                {"obligation_id": contract.obligation_ids.id, "date": "2026-01-31", "amount": 1.0}
            )
            self.env.flush_all()

    def _date(self, value):
        return fields.Date.to_date(value)
