from freezegun import freeze_time

from odoo.tests import tagged

from .common import DAY0, Q2cDunningCommon


@tagged("post_install", "-at_install", "is_query_count")
class TestDunningPerformance(Q2cDunningCommon):
    """The run's batch path reads and writes in batches: its number of queries does not grow
    with the number of invoices."""

    def _past_due_invoices(self, count):
        partners = self.env["res.partner"].create(
            [{"name": f"Batch customer {i}", "email": f"b{i}@example.com"} for i in range(count)]
        )
        invoices = self.env["account.move"]
        for partner in partners:
            sub = self._dun_subscription(partner=partner)
            invoices |= self._dun_invoice(sub, due=DAY0)
        return invoices

    def _count_queries(self, day):
        self.env.flush_all()
        self.env.invalidate_all()
        with freeze_time(day):
            before = self.cr.sql_log_count
            self.env["q2c.dunning.run"].run_dunning(day.isoformat())
            self.env.flush_all()
            return self.cr.sql_log_count - before

    def test_query_count_does_not_grow_with_invoices(self):
        small = self._past_due_invoices(3)
        # Opening the cases (and running the steps of day 1: skipped retries, reminders).
        opening_small = self._count_queries(self._day(1))
        quiet_small = self._count_queries(self._day(2))
        self.env["q2c.dunning.case"].search([("invoice_id", "in", small.ids)]).action_cancel()
        large = self._past_due_invoices(12)
        opening_large = self._count_queries(self._day(1))
        quiet_large = self._count_queries(self._day(2))
        cases = self.env["q2c.dunning.case"].search([("invoice_id", "in", large.ids)])
        self.assertEqual(len(cases), 12)
        # The first run also warms the caches: the larger batch costs no more queries.
        self.assertLessEqual(opening_large, opening_small, (opening_small, opening_large))
        self.assertEqual(quiet_large, quiet_small)
        # A quiet day (nothing due) is a handful of queries whatever the volume.
        with freeze_time(self._day(3)), self.assertQueryCount(25):
            self.env["q2c.dunning.run"].run_dunning(self._day(3).isoformat())

    def test_query_count_of_reminder_day(self):
        invoices = self._past_due_invoices(10)
        with freeze_time(self._day(1)):
            self.env["q2c.dunning.run"].run_dunning(self._day(1).isoformat())
        self.env.flush_all()
        self.env.invalidate_all()
        cases = self.env["q2c.dunning.case"].search([("invoice_id", "in", invoices.ids)])
        self.assertEqual(set(cases.mapped("stage")), {"reminded"})
        # Day 7: ten firm reminders queued in one batch.
        with freeze_time(self._day(7)), self.assertQueryCount(45):
            result = self.env["q2c.dunning.run"].run_dunning(self._day(7).isoformat())
        self.assertEqual(result["reminded"], 10)
