from datetime import date

from odoo.tests import freeze_time, tagged

from .common import Q2cSubscriptionCommon


@tagged("post_install", "-at_install")
class TestSubscriptionMrr(Q2cSubscriptionCommon):
    """The stored MRR counts the lines in effect on the day it is computed, and the nightly
    refresh moves it when a dated line starts or ends."""

    def _dated_subscription(self):
        # 5 seats until June 30, then 8 seats from July 1 (a priced change dated ahead).
        return self._q2c_subscription(
            [
                (self.plan_seat, 5, {"end_date": date(2026, 6, 30)}),
                (self.plan_seat, 8, {"start_date": date(2026, 7, 1)}),
            ]
        )

    def test_future_line_is_not_counted_yet(self):
        with freeze_time("2026-06-15"):
            sub = self._dated_subscription()
            self.assertEqual(sub.mrr, 50.0)
            self.assertEqual(sub.arr, 600.0)
            self.assertEqual(sub.recurring_total, 50.0)

    def test_nightly_refresh_moves_to_the_started_line(self):
        params = self.env["ir.config_parameter"].sudo()
        with freeze_time("2026-06-15"):
            sub = self._dated_subscription()
            plain = self._q2c_subscription([(self.plan_seat, 2)])
            self.env["q2c.subscription"]._cron_q2c_refresh_amounts()
            self.assertEqual(params.get_param("q2c_billing.amounts_refreshed_on"), "2026-06-15")
        with freeze_time("2026-07-01"):
            self.assertEqual(sub.mrr, 50.0, "stored: computed on June 15")
            self.env["q2c.subscription"]._cron_q2c_refresh_amounts()
            self.env.invalidate_all()
            self.assertEqual(sub.mrr, 80.0)
            self.assertEqual(sub.arr, 960.0)
            self.assertEqual(sub.mrr_company, 80.0)
            self.assertEqual(sub.recurring_total, 80.0)
            self.assertEqual(plain.mrr, 20.0)
            self.assertEqual(params.get_param("q2c_billing.amounts_refreshed_on"), "2026-07-01")

    def test_refresh_in_batches_resumes_after_the_last_done(self):
        with freeze_time("2026-06-15"):
            first = self._dated_subscription()
            second = self._dated_subscription()
            self.env["q2c.subscription"]._cron_q2c_refresh_amounts()
        params = self.env["ir.config_parameter"].sudo()
        with freeze_time("2026-07-02"):
            self.env["q2c.subscription"]._cron_q2c_refresh_amounts(limit=1)
            self.env.invalidate_all()
            self.assertEqual((first.mrr, second.mrr), (80.0, 50.0))
            self.assertEqual(params.get_param("q2c_billing.amounts_refresh_cursor"), str(first.id))
            self.assertEqual(params.get_param("q2c_billing.amounts_refreshed_on"), "2026-06-15")
            self.env["q2c.subscription"]._cron_q2c_refresh_amounts(limit=1)
            self.env.invalidate_all()
            self.assertEqual((first.mrr, second.mrr), (80.0, 80.0))
            self.assertEqual(params.get_param("q2c_billing.amounts_refresh_cursor"), "0")
            self.assertEqual(params.get_param("q2c_billing.amounts_refreshed_on"), "2026-07-02")

    def test_expired_discount_is_refreshed(self):
        with freeze_time("2026-03-10"):
            sub = self._q2c_subscription(
                [(self.plan_seat, 10, {"discount": 20.0, "discount_end_date": date(2026, 3, 31)})]
            )
            self.env["q2c.subscription"]._cron_q2c_refresh_amounts()
            self.assertEqual(sub.mrr, 80.0)
        with freeze_time("2026-04-01"):
            self.env["q2c.subscription"]._cron_q2c_refresh_amounts()
            self.env.invalidate_all()
            self.assertEqual(sub.line_ids.mrr, 100.0)
            self.assertEqual(sub.mrr, 100.0)
