from odoo.tests import Form, tagged

from .common import Q2cDunningCommon


@tagged("post_install", "-at_install")
class TestDunningAnalysis(Q2cDunningCommon):
    def test_recovery_by_month_and_step(self):
        # March: 100 recovered by the day-1 retry, 300 recovered manually after the day-7
        # reminder, 100 not recovered.
        __, paid_by_retry, token = self._dun_failed_invoice()
        __, paid_by_hand, __ = self._dun_failed_invoice(partner=self.customer_2, amount=300.0)
        third = self.env["res.partner"].create({"name": "Third", "email": "t@example.com"})
        __, unpaid, __ = self._dun_failed_invoice(partner=third)
        token.demo_simulated_state = "done"
        self._dun_run(self._day(1))
        self._dun_run(self._day(7))
        self._dun_pay_manually(paid_by_hand, self._day(8))
        Analysis = self.env["q2c.dunning.analysis"]
        rows = Analysis._read_group(
            [("partner_id", "in", (self.customer | self.customer_2 | third).ids)],
            ["date:month"],
            ["failed_amount:sum", "recovered_amount:sum", "recovery_rate:avg", "__count"],
        )
        self.assertEqual(len(rows), 1)
        __, failed, recovered, rate, count = rows[0]
        self.assertEqual((failed, recovered, count), (500.0, 400.0, 3))
        self.assertAlmostEqual(rate, 80.0, places=6, msg="the group's rate, not a mean of rates")
        by_step = {
            step: (failed, recovered, rate)
            for step, failed, recovered, rate in Analysis._read_group(
                [("partner_id", "in", (self.customer | self.customer_2 | third).ids)],
                ["step_action"],
                ["failed_amount:sum", "recovered_amount:sum", "recovery_rate:avg"],
            )
        }
        self.assertEqual(by_step["send_reminder"], (400.0, 300.0, 75.0))
        self.assertEqual(by_step["none"], (100.0, 100.0, 100.0))
        retry_case = self._dun_case(paid_by_retry)
        self.assertEqual(retry_case.recovery_channel, "retry")
        self.assertFalse(retry_case.recovery_step_id, "paid by the first retry, before any step")
        self.assertEqual(unpaid.q2c_dunning_case_id.stage, "reminded")

    def test_views_load(self):
        for view in ("pivot", "graph"):
            self.env["q2c.dunning.analysis"].get_views([(False, view)])
        for view in ("kanban", "list", "form", "search"):
            self.env["q2c.dunning.case"].get_views([(False, view)])
        __, invoice, __ = self._dun_failed_invoice()
        form = Form(self._dun_case(invoice))
        self.assertEqual(form.state, "open")
        groups = (
            self.env["q2c.dunning.case"].formatted_read_group([], ["stage"], ["__count"])
            if hasattr(self.env["q2c.dunning.case"], "formatted_read_group")
            else (self.env["q2c.dunning.case"].read_group([], ["stage"], ["stage"]))
        )
        self.assertEqual(
            [group["stage"] for group in groups],
            ["new", "retrying", "reminded", "suspended", "cancelled", "closed"],
            "the kanban shows every stage",
        )
