from freezegun import freeze_time

from odoo import Command, fields
from odoo.tests import tagged

from .common import Q2cRevrecCommon


@tagged("post_install", "-at_install")
class TestQ2cSaleOrder(Q2cRevrecCommon):
    def _order(self, lines, date="2026-02-01 10:00:00"):
        return self.env["sale.order"].create(
            {
                "partner_id": self.customer.id,
                "date_order": date,
                "order_line": [
                    Command.create(
                        {
                            "product_id": product.id,
                            "product_uom_qty": qty,
                            "price_unit": price,
                            "tax_id": [Command.clear()],
                            **extra,
                        }
                    )
                    for product, qty, price, extra in lines
                ],
            }
        )

    def test_contract_from_confirmed_order(self):
        order = self._order(
            [
                (self.product_support, 1, 1200.0, {}),
                (self.product_setup, 1, 300.0, {"discount": 50.0}),
                (self.product_plain, 2, 50.0, {}),
            ]
        )
        self.assertFalse(order.q2c_revenue_contract_ids)
        with freeze_time("2026-02-01 10:00:00"):
            order.action_confirm()
        contract = order.q2c_revenue_contract_ids
        self.assertEqual(len(contract), 1)
        self.assertEqual(contract.state, "active")
        self.assertEqual(contract.partner_id, self.customer)
        self.assertEqual(str(contract.date), "2026-02-01")
        self.assertEqual(
            contract.transaction_price, 1350.0, "untaxed amount of the recognized lines"
        )
        self.assertEqual(contract.discount_amount, 150.0)
        support, setup = contract.obligation_ids
        self.assertEqual(support.sale_line_id, order.order_line[0])
        self.assertEqual(
            (support.recognition_method, str(support.start_date), str(support.end_date)),
            ("ratable_monthly", "2026-02-01", "2027-01-31"),
        )
        self.assertEqual(
            (setup.recognition_method, str(setup.start_date)), ("point_in_time", "2026-02-01")
        )
        # SSPs are the list prices (1200 and 500): 1350 * 1200 / 1700 and 1350 * 500 / 1700.
        self.assertEqual((support.ssp, setup.ssp), (1200.0, 500.0))
        self.assertEqual((support.allocated_amount, setup.allocated_amount), (952.94, 397.06))
        schedule = self._q2c_schedule(contract)
        self.assertEqual(self.usd.compare_amounts(sum(schedule.values()), 1350.0), 0)
        self.assertEqual(schedule["2026-02-01"], 397.06)

        # Its invoice bills the contract, to deferred revenue for deferred products.
        invoice = order._create_invoices()
        invoice.invoice_date = "2026-02-01"
        invoice.action_post()
        by_product = {line.product_id: line for line in invoice.invoice_line_ids}
        self.assertEqual(by_product[self.product_support].q2c_revenue_contract_id, contract)
        self.assertEqual(by_product[self.product_support].account_id, self.deferred_account)
        self.assertEqual(by_product[self.product_setup].account_id, self.deferred_account)
        self.assertFalse(by_product[self.product_plain].q2c_revenue_contract_id)
        self.assertEqual(by_product[self.product_plain].account_id, self.revenue_account)
        self.assertEqual(contract.billed_amount, 1350.0)

        result = self.env["q2c.revrec.run"].run_recognition("2026-02-28")
        self.assertEqual(result["recognized"], self.usd.round(397.06 + schedule["2026-02-28"]))
        self.assertEqual(
            self._q2c_balance(self.unbilled_account), 0.0, "billed up front: no contract asset"
        )

    def test_full_cycle_quote_invoice_payments_recognition(self):
        """Quote -> order -> invoice -> two payments -> a year of monthly recognition runs:
        the ledger and the subledger reconcile after every run. The revenue of February (the
        onboarding at delivery and the first month of support) is recognized before the
        invoice of March 15th, so it goes through the contract asset, netted when billed."""
        order = self._order(
            [
                (self.product_support, 1, 1200.0, {}),
                (self.product_setup, 1, 300.0, {"discount": 50.0}),
                (self.product_plain, 2, 50.0, {}),
            ]
        )
        self.assertEqual(order.state, "draft", "a quote")
        with freeze_time("2026-02-01 10:00:00"):
            order.action_confirm()
        contract = order.q2c_revenue_contract_ids
        Run = self.env["q2c.revrec.run"]
        Reconciliation = self.env["q2c.revrec.reconciliation"]
        feb = Run.run_recognition("2026-02-28")
        # 397.06 at delivery + 952.94 / 12 = 79.41 (cumulative rounding) for February.
        self.assertEqual(feb["recognized"], 476.47)
        self.assertEqual(self._q2c_balance(self.unbilled_account), 476.47)
        self.assertFalse(Reconciliation._q2c_reconciliation_differences())

        invoice = order._create_invoices()
        invoice.invoice_date = "2026-03-15"
        invoice.action_post()
        self.assertEqual(invoice.amount_total, 1450.0)
        for amount, day in ((1000.0, "2026-03-20"), (450.0, "2026-04-20")):
            self.env["account.payment.register"].with_context(
                active_model="account.move", active_ids=invoice.ids
            ).create({"payment_date": day, "amount": amount})._create_payments()
        self.assertIn(invoice.payment_state, ("paid", "in_payment"))

        months = ["2026-%02d-01" % m for m in range(3, 13)] + ["2027-01-01"]
        for first in months:
            last = fields.Date.end_of(fields.Date.to_date(first), "month")
            Run.run_recognition(last)
            self.assertFalse(Reconciliation._q2c_reconciliation_differences(), last)
            if first == "2026-03-01":
                self.assertEqual(self._q2c_balance(self.unbilled_account), 0.0, "netted")
        contract.invalidate_recordset()
        self.assertEqual((contract.recognized_amount, contract.billed_amount), (1350.0, 1350.0))
        self.assertEqual(self._q2c_balance(self.revenue_account), -1450.0, "1,350 + plain 100")
        self.assertEqual(self._q2c_balance(self.deferred_account), 0.0)
        self.assertEqual(self._q2c_balance(self.unbilled_account), 0.0)
        self.assertFalse(Run.run_recognition("2027-01-31")["move_ids"], "idempotent")

    def test_schedule_preview(self):
        order = self._order(
            [(self.product_support, 1, 1200.0, {}), (self.product_setup, 1, 300.0, {})],
            date="2026-03-01 09:00:00",
        )
        preview = order._q2c_revenue_schedule_preview()
        self.assertEqual(len(preview), 12)
        # Allocated by list prices as SSPs (1200 and 500): 1058.82 over 12 months, 441.18 at
        # delivery in March; the cumulative monthly amounts round half up (88.235 -> 88.24).
        self.assertEqual(preview[0], {"period": "2026-03", "amount": 529.42})
        self.assertEqual(preview[1], {"period": "2026-04", "amount": 88.23})
        self.assertEqual(self.usd.compare_amounts(sum(p["amount"] for p in preview), 1500.0), 0)
        self.assertFalse(
            self.env["q2c.revenue.contract"].search([("sale_order_id", "=", order.id)])
        )
        self.assertEqual(order.state, "draft")
        if hasattr(order, "q2c_preview"):
            # With q2c_cpq, the quote's preview (tab, PDF, XML-RPC) carries the same schedule.
            self.assertEqual(order.q2c_preview()["revenue_schedule"], preview)

    def test_order_without_recognition_products(self):
        order = self._order([(self.product_plain, 1, 50.0, {})])
        order.action_confirm()
        self.assertFalse(order.q2c_revenue_contract_ids)

    def test_incomplete_contract_stays_draft(self):
        self.product_support.q2c_term_months = 0
        order = self._order([(self.product_support, 1, 1200.0, {})])
        order.action_confirm()
        self.assertEqual(order.state, "sale", "the confirmation goes through")
        contract = order.q2c_revenue_contract_ids
        self.assertEqual(contract.state, "draft")
        self.assertFalse(contract.schedule_line_ids)
        self.assertIn("left in draft", contract.message_ids[0].body)
        self.assertIn("start date and an end date", contract.message_ids[0].body)
        contract.obligation_ids.end_date = "2027-06-30"
        contract.action_activate()
        self.assertEqual(contract.state, "active")

    def test_salesman_confirms(self):
        salesman = self.env["res.users"].create(
            {
                "name": "Salesman",
                "login": "q2c_rr_salesman",
                "company_id": self.company.id,
                "company_ids": [Command.set(self.company.ids)],
                "groups_id": [Command.set(self.env.ref("sales_team.group_sale_salesman").ids)],
            }
        )
        order = self._order([(self.product_setup, 1, 500.0, {})])
        order.user_id = salesman
        order.with_user(salesman).action_confirm()
        self.assertEqual(order.sudo().q2c_revenue_contract_ids.state, "active")
