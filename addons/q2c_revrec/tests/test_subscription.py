from odoo import Command, fields
from odoo.tests import tagged

from .common import Q2cRevrecCommon


@tagged("post_install", "-at_install")
class TestQ2cRevrecSubscription(Q2cRevrecCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._q2c_setup_subscriptions()
        cls.plan_setup = cls.env["q2c.price.plan"].create(
            {
                "name": "Onboarding once",
                "product_id": cls.product_setup.id,
                "currency_id": cls.usd.id,
                "charge_type": "one_time",
                "charge_model": "flat",
                "flat_price": 300.0,
            }
        )

    def _subscription(self, end_date=None, setup=False):
        lines = [
            Command.create(
                {
                    "product_id": self.product_support.id,
                    "price_plan_id": self.plan_support.id,
                    "quantity": 1,
                }
            )
        ]
        if setup:
            lines.append(
                Command.create(
                    {
                        "product_id": self.product_setup.id,
                        "price_plan_id": self.plan_setup.id,
                        "quantity": 1,
                    }
                )
            )
        sub = self.env["q2c.subscription"].create(
            {
                "partner_id": self.partner_a.id,
                "currency_id": self.usd.id,
                "start_date": "2026-01-01",
                "end_date": end_date,
                "line_ids": lines,
            }
        )
        sub.action_activate()
        return sub

    def test_contract_from_subscription_term(self):
        sub = self._subscription(end_date="2026-06-30", setup=True)
        contract = sub.q2c_revenue_contract_ids
        self.assertEqual(len(contract), 1)
        self.assertEqual(contract.state, "active")
        self.assertEqual(contract.subscription_id, sub)
        self.assertEqual(contract.transaction_price, 900.0, "6 months x 100 + 300 onboarding")
        by_product = {o.product_id: o for o in contract.obligation_ids}
        support = by_product[self.product_support]
        self.assertEqual(support.allocated_amount, 600.0)
        self.assertEqual(
            (fields.Date.to_string(support.start_date), fields.Date.to_string(support.end_date)),
            ("2026-01-01", "2026-06-30"),
        )
        self.assertEqual(by_product[self.product_setup].allocated_amount, 300.0)
        self.assertEqual(by_product[self.product_setup].recognition_method, "point_in_time")
        self.assertEqual(
            self._q2c_schedule(contract),
            {
                "2026-01-01": 300.0,
                "2026-01-31": 100.0,
                "2026-02-28": 100.0,
                "2026-03-31": 100.0,
                "2026-04-30": 100.0,
                "2026-05-31": 100.0,
                "2026-06-30": 100.0,
            },
        )
        sub._q2c_sync_revenue_contract()
        self.assertEqual(len(sub.q2c_revenue_contract_ids), 1, "one contract per term")

    def test_evergreen_term_is_twelve_months(self):
        sub = self._subscription()
        contract = sub.q2c_revenue_contract_ids
        self.assertEqual(contract.transaction_price, 1200.0)
        self.assertEqual(fields.Date.to_string(contract.obligation_ids.end_date), "2026-12-31")

    def test_billing_runs_bill_the_contract(self):
        sub = self._subscription(end_date="2026-06-30")
        contract = sub.q2c_revenue_contract_ids
        Billing = self.env["q2c.billing.run"]
        jan = self.env["account.move"].browse(Billing.run_billing("2026-01-01")["invoice_ids"])
        feb = self.env["account.move"].browse(Billing.run_billing("2026-02-01")["invoice_ids"])
        lines = (jan + feb).invoice_line_ids
        self.assertEqual(lines.q2c_subscription_id, sub)
        self.assertEqual(lines.q2c_revenue_contract_id, contract)
        self.assertEqual(lines.account_id, self.deferred_account)
        contract.invalidate_recordset()
        self.assertEqual(contract.billed_amount, 200.0)
        Run = self.env["q2c.revrec.run"]
        self.assertEqual(Run.run_recognition("2026-02-28")["recognized"], 200.0)
        self.assertEqual(self._q2c_balance(self.deferred_account), 0.0)
        self.assertEqual(self._q2c_balance(self.unbilled_account), 0.0, "billed as recognized")
        rows = self.env["q2c.revenue.contract"].waterfall("2026-01-01", "2026-03-31")
        self.assertEqual(
            [
                (r["month"], r["billed"], r["recognized"], r["deferred"], r["unbilled"])
                for r in rows
            ],
            [
                ("2026-01", 100.0, 100.0, 0.0, 0.0),
                ("2026-02", 100.0, 100.0, 0.0, 0.0),
                ("2026-03", 0.0, 100.0, 0.0, 100.0),
            ],
        )
        self.env.flush_all()
        self.assertFalse(self.env["q2c.revrec.reconciliation"]._q2c_reconciliation_differences())

    def test_amendment_is_a_prospective_modification(self):
        """One seat at 100.00 a month: the January-June term is 600.00. On April 1st a second
        seat (+100.00 a month for 3 months = +300.00); satisfied by then: 300.00, so the
        remaining 900 - 300 = 600.00 go over April-June, 200.00 a month."""
        plan_seat = self.env["q2c.price.plan"].create(
            {
                "name": "Support seat",
                "product_id": self.product_support.id,
                "currency_id": self.usd.id,
                "charge_type": "recurring",
                "charge_model": "per_unit",
                "unit_price": 100.0,
                "sequence": 1,
            }
        )
        sub = self.env["q2c.subscription"].create(
            {
                "partner_id": self.partner_a.id,
                "currency_id": self.usd.id,
                "start_date": "2026-01-01",
                "end_date": "2026-06-30",
                "line_ids": [
                    Command.create(
                        {
                            "product_id": self.product_support.id,
                            "price_plan_id": plan_seat.id,
                            "quantity": 1,
                        }
                    )
                ],
            }
        )
        sub.action_activate()
        contract = sub.q2c_revenue_contract_ids
        self.assertEqual(contract.transaction_price, 600.0)
        for day in ("2026-01-01", "2026-02-01", "2026-03-01", "2026-04-01"):
            self.env["q2c.billing.run"].run_billing(day)
        result = sub.apply_change(
            [
                {
                    "line_id": sub.line_ids.id,
                    "product_id": self.product_support.id,
                    "price_plan_id": plan_seat.id,
                    "quantity": 2,
                }
            ],
            "2026-04-01",
        )
        self.assertEqual(result["mrr_delta"], 100.0)
        self.assertEqual(contract.transaction_price, 900.0)
        schedule = self._q2c_schedule(contract)
        self.assertEqual(
            schedule,
            {
                "2026-01-31": 100.0,
                "2026-02-28": 100.0,
                "2026-03-31": 100.0,
                "2026-04-30": 200.0,
                "2026-05-31": 200.0,
                "2026-06-30": 200.0,
            },
        )
