from odoo.exceptions import UserError
from odoo.tests import Form, tagged

from .common import Q2cRevrecCommon


@tagged("post_install", "-at_install")
class TestQ2cRevrecModification(Q2cRevrecCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.Run = cls.env["q2c.revrec.run"]

    def _support_contract(self):
        """1,200.00 of support over 2026 (ratable monthly): 100.00 a month."""
        contract = self._q2c_contract(
            1200.0,
            [
                self._q2c_obligation(
                    self.product_support, ssp=1200.0, start="2026-01-01", end="2026-12-31"
                )
            ],
        )
        contract.action_activate()
        return contract

    def test_separate_contract(self):
        contract = self._support_contract()
        before = self._q2c_schedule(contract)
        new = contract._q2c_modify(
            {
                "add": [
                    {"product_id": self.product_setup.id, "ssp": 500.0, "start_date": "2026-05-10"}
                ]
            },
            "2026-05-01",
            "separate",
        )
        self.assertNotEqual(new, contract)
        self.assertEqual(new.state, "active")
        self.assertEqual(new.partner_id, contract.partner_id)
        self.assertEqual(new.transaction_price, 500.0)
        self.assertEqual(self._q2c_schedule(new), {"2026-05-10": 500.0})
        self.assertEqual(self._q2c_schedule(contract), before, "the original is untouched")
        self.assertEqual(contract.transaction_price, 1200.0)

    def test_prospective_added_goods_at_a_discount(self):
        """Six months posted (600.00). On July 1st a SaaS add-on (SSP 600.00 over July-December)
        is added for 300.00 more. Remaining consideration 1,200 + 300 - 600 = 900, over the
        remaining goods by SSP: support 1,200 x 6/12 = 600, add-on 600, so 450.00 each, 75.00 a
        month each from July."""
        contract = self._support_contract()
        self.Run.run_recognition("2026-06-30")
        contract._q2c_modify(
            {
                "consideration": 300.0,
                "add": [
                    {
                        "product_id": self.product_saas.id,
                        "ssp": 600.0,
                        "start_date": "2026-07-01",
                        "end_date": "2026-12-31",
                        "recognition_method": "ratable_monthly",
                    }
                ],
            },
            "2026-07-01",
            "prospective",
        )
        self.assertEqual(contract.transaction_price, 1500.0)
        support = contract.obligation_ids.filtered(lambda o: o.product_id == self.product_support)
        addon = contract.obligation_ids.filtered(lambda o: o.product_id == self.product_saas)
        self.assertEqual((support.allocated_amount, addon.allocated_amount), (1050.0, 450.0))
        months = [f"2026-{m:02d}" for m in range(1, 13)]
        ends = {
            "2026-01": "31", "2026-02": "28", "2026-03": "31", "2026-04": "30",
            "2026-05": "31", "2026-06": "30", "2026-07": "31", "2026-08": "31",
            "2026-09": "30", "2026-10": "31", "2026-11": "30", "2026-12": "31",
        }  # fmt: skip
        expected = {f"{m}-{ends[m]}": (100.0 if m <= "2026-06" else 150.0) for m in months}
        self.assertEqual(self._q2c_schedule(contract), expected)
        self.assertEqual(self.Run.run_recognition("2026-12-31")["recognized"], 900.0)
        contract.invalidate_recordset()
        self.assertEqual(contract.recognized_amount, 1500.0)

    def test_prospective_term_extension(self):
        """Three months posted (300.00); from April 1st the support runs until March 2027
        (12 months left, SSP 1,200 x 12/12 = 1,200) for 600.00 more: 1,500.00 left over 12
        months, 125.00 a month."""
        contract = self._support_contract()
        self.Run.run_recognition("2026-03-31")
        obligation = contract.obligation_ids
        contract._q2c_modify(
            {"consideration": 600.0, "update": {obligation.id: {"end_date": "2027-03-31"}}},
            "2026-04-01",
            "prospective",
        )
        self.assertEqual(obligation.allocated_amount, 1800.0)
        schedule = self._q2c_schedule(contract)
        self.assertEqual(schedule["2026-03-31"], 100.0)
        self.assertEqual(schedule["2026-04-30"], 125.0)
        self.assertEqual(schedule["2027-03-31"], 125.0)
        self.assertEqual(len(schedule), 15)
        self.assertEqual(sum(schedule.values()), 1800.0)

    def test_catch_up(self):
        """Three months posted at 100.00. On April 1st the price of the single obligation goes
        up by 600.00 (1,800.00 over the year, 150.00 a month): the catch-up of 3 x 50.00 =
        150.00 is booked on April 1st, so April recognizes 300.00."""
        contract = self._support_contract()
        self.Run.run_recognition("2026-03-31")
        contract._q2c_modify({"consideration": 600.0}, "2026-04-01", "catch_up")
        self.assertEqual(contract.transaction_price, 1800.0)
        schedule = self._q2c_schedule(contract)
        self.assertEqual(schedule["2026-04-01"], 150.0, "cumulative catch-up")
        self.assertEqual(schedule["2026-04-30"], 150.0)
        self.assertEqual(schedule["2026-01-31"], 100.0, "posted periods are kept")
        self.assertEqual(sum(schedule.values()), 1800.0)
        self.assertEqual(self.Run.run_recognition("2026-04-30")["recognized"], 300.0)
        self.assertEqual(self.Run.run_recognition("2026-12-31")["recognized"], 1200.0)

    def test_catch_up_shorter_term(self):
        """Three months posted at 100.00; on April 1st the term ends on June 30 with the same
        price (1,200 over 6 months, 200.00 a month): catch-up 3 x 100.00 = 300.00."""
        contract = self._support_contract()
        self.Run.run_recognition("2026-03-31")
        contract._q2c_modify({"end_date": "2026-06-30"}, "2026-04-01", "catch_up")
        schedule = self._q2c_schedule(contract)
        self.assertEqual(
            {k: v for k, v in schedule.items() if k >= "2026-04-01"},
            {"2026-04-01": 300.0, "2026-04-30": 200.0, "2026-05-31": 200.0, "2026-06-30": 200.0},
        )

    def test_catch_up_needs_a_single_obligation(self):
        contract = self._q2c_contract(
            1700.0,
            [
                self._q2c_obligation(
                    self.product_support, ssp=1200.0, start="2026-01-01", end="2026-12-31"
                ),
                self._q2c_obligation(self.product_setup, ssp=500.0, start="2026-01-01"),
            ],
        )
        contract.action_activate()
        with self.assertRaisesRegex(UserError, "single partly satisfied"):
            contract._q2c_modify({"consideration": 10.0}, "2026-04-01", "catch_up")
        with self.assertRaisesRegex(UserError, "not a contract modification"):
            contract._q2c_modify({}, "2026-04-01", "other")

    def test_wizard(self):
        contract = self._support_contract()
        self.Run.run_recognition("2026-03-31")
        wizard = Form(
            self.env["q2c.revrec.modify.wizard"].with_context(default_contract_id=contract.id)
        )
        wizard.kind = "catch_up"
        wizard.date = "2026-04-01"
        wizard.consideration = 600.0
        wizard.save().action_apply()
        self.assertEqual(self._q2c_schedule(contract)["2026-04-01"], 150.0)
        self.assertTrue(contract.message_ids.filtered(lambda m: "catch-up" in (m.body or "")))
