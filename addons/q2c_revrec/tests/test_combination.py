from odoo import fields
from odoo.exceptions import UserError
from odoo.tests import tagged

from .common import Q2cRevrecCommon


@tagged("post_install", "-at_install")
class TestQ2cRevrecCombination(Q2cRevrecCommon):
    """Combination of contracts with one customer (ASC 606-10-25-9, IFRS 15.17).

    A yearly support contract (SSP 1,200.00, sold 1,000.00) and an onboarding (SSP 500.00, sold
    500.00) signed ten days apart. Combined: price 1,500.00 over SSP 1,700.00:
    support 1,500 x 1,200 / 1,700 = 1,058.8235... -> 1,058.82 (remainder .35),
    onboarding 1,500 x 500 / 1,700 = 441.1764... -> 441.18 (remainder .65 takes the cent left).
    """

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.Run = cls.env["q2c.revrec.run"]

    def _pair(self, activate=False):
        support = self._q2c_contract(
            1000.0,
            [
                self._q2c_obligation(
                    self.product_support, ssp=1200.0, start="2026-01-01", end="2026-12-31"
                )
            ],
        )
        onboarding = self._q2c_contract(
            500.0,
            [self._q2c_obligation(self.product_setup, ssp=500.0, start="2026-01-15")],
            date="2026-01-10",
        )
        if activate:
            (support + onboarding).action_activate()
        return support, onboarding

    def _allocated(self, contract):
        return [
            (o.product_id, o.allocated_amount) for o in contract.obligation_ids.sorted("sequence")
        ]

    def test_combine_draft_contracts(self):
        support, onboarding = self._pair()
        combined = (onboarding + support).combine()
        self.assertEqual(combined, support, "the earliest contract holds the combination")
        self.assertEqual(combined.state, "draft")
        self.assertEqual(combined.transaction_price, 1500.0)
        self.assertEqual(
            self._allocated(combined),
            [(self.product_support, 1058.82), (self.product_setup, 441.18)],
        )
        self.assertEqual(onboarding.state, "combined")
        self.assertEqual(onboarding.combined_into_id, support)
        self.assertFalse(onboarding.obligation_ids)
        self.assertEqual(support.combined_from_ids, onboarding)
        combined.action_activate()
        self.assertEqual(
            combined.currency_id.round(sum(combined.schedule_line_ids.mapped("amount"))), 1500.0
        )
        self.assertEqual(self._q2c_schedule(combined)["2026-01-15"], 441.18)

    def test_combine_active_contracts_keeps_posted_revenue(self):
        """January is posted separately (support 1,000 / 12 = 83.33, onboarding 500.00), the
        contracts are combined on February 15th. Support now 1,058.82 a year, monthly:
        cumulative January 8,823.5 -> 88.24 (catch-up 88.24 - 83.33 = 4.91 on Feb 15th),
        February 17,647 - 8,824 -> 88.23; onboarding 441.18 - 500.00 = -58.82 on Feb 15th.
        Recognized to the end of February: 176.47 + 441.18 = 617.65; billed 1,500.00, so the
        contract liability is 882.35."""
        support, onboarding = self._pair(activate=True)
        invoice_support = self._q2c_invoice(support, 1000.0, "2026-01-01")
        invoice_onboarding = self._q2c_invoice(
            onboarding, 500.0, "2026-01-15", product=self.product_setup
        )
        jan = self.Run.run_recognition("2026-01-31")
        self.assertEqual(jan["recognized"], 583.33)
        posted_before = support.schedule_line_ids | onboarding.schedule_line_ids
        posted_before = posted_before.filtered(lambda line: line.state == "posted")
        amounts_before = posted_before.mapped("amount")

        combined = (support + onboarding).combine("2026-02-15")
        self.assertEqual(combined, support)
        self.assertEqual(combined.state, "active")
        self.assertEqual(
            self._allocated(combined),
            [(self.product_support, 1058.82), (self.product_setup, 441.18)],
        )
        self.assertEqual(posted_before.mapped("amount"), amounts_before, "posted lines untouched")
        self.assertTrue(all(line.state == "posted" for line in posted_before))
        self.assertEqual(posted_before.contract_id, combined)
        self.assertEqual(
            (invoice_support + invoice_onboarding).invoice_line_ids.q2c_revenue_contract_id,
            combined,
        )
        support_line = combined.obligation_ids.filtered(
            lambda o: o.product_id == self.product_support
        )
        setup_line = combined.obligation_ids - support_line
        self.assertEqual(
            {
                fields.Date.to_string(line.date): line.amount
                for line in support_line.schedule_line_ids
                if fields.Date.to_string(line.date) <= "2026-02-28"
            },
            {"2026-01-31": 83.33, "2026-02-15": 4.91, "2026-02-28": 88.23},
        )
        self.assertEqual(
            {
                fields.Date.to_string(line.date): line.amount
                for line in setup_line.schedule_line_ids
            },
            {"2026-01-15": 500.0, "2026-02-15": -58.82},
        )
        self.assertEqual(
            combined.currency_id.round(sum(combined.schedule_line_ids.mapped("amount"))), 1500.0
        )

        feb = self.Run.run_recognition("2026-02-28")
        self.assertEqual(feb["recognized"], 34.32, "88.23 + 4.91 - 58.82")
        self.assertEqual(self._q2c_balance(self.revenue_account), -617.65)
        self.assertEqual(self._q2c_balance(self.deferred_account), -882.35)
        self.assertEqual(self._q2c_balance(self.unbilled_account), 0.0)
        self.assertFalse(self.env["q2c.revrec.reconciliation"]._q2c_reconciliation_differences())
        self.assertFalse(self.Run.run_recognition("2026-02-28")["move_ids"], "idempotent")
        for day in ("2026-06-30", "2026-12-31"):
            self.Run.run_recognition(day)
        self.assertEqual(self._q2c_balance(self.revenue_account), -1500.0)
        self.assertEqual(self._q2c_balance(self.deferred_account), 0.0)
        self.assertFalse(self.env["q2c.revrec.reconciliation"]._q2c_reconciliation_differences())

    def test_company_window_proposes_combinations(self):
        support, onboarding = self._pair()
        contact = self.env["res.partner"].create(
            {"name": "Buyer at A", "parent_id": self.partner_a.id, "type": "contact"}
        )
        same_customer = self._q2c_contract(
            200.0,
            [self._q2c_obligation(self.product_setup, ssp=200.0, start="2026-01-20")],
            date="2026-01-20",
            partner_id=contact.id,
        )
        other_customer = self._q2c_contract(
            200.0,
            [self._q2c_obligation(self.product_setup, ssp=200.0, start="2026-01-05")],
            date="2026-01-05",
            partner_id=self.partner_b.id,
        )
        later = self._q2c_contract(
            200.0,
            [self._q2c_obligation(self.product_setup, ssp=200.0, start="2026-03-01")],
            date="2026-03-01",
        )
        contracts = support + onboarding + same_customer + other_customer + later
        self.assertEqual(self.company.q2c_revrec_combine_days, 0, "off by default")
        self.assertFalse(contracts.combine_candidate_ids)
        with self.assertRaisesRegex(UserError, "at least two"):
            support.action_combine()

        self.company.q2c_revrec_combine_days = 30
        contracts.invalidate_recordset(["combine_candidate_ids"])
        self.assertEqual(support.combine_candidate_ids, onboarding + same_customer)
        self.assertEqual(same_customer.combine_candidate_ids, support + onboarding)
        self.assertFalse(other_customer.combine_candidate_ids)
        self.assertFalse(later.combine_candidate_ids, "59 days after the support contract")
        Contract = self.env["q2c.revenue.contract"]
        self.assertEqual(
            Contract.search([("id", "in", contracts.ids), ("combine_candidate_ids", "!=", False)]),
            support + onboarding + same_customer,
        )

        action = support.action_combine()
        self.assertEqual(action["res_id"], support.id)
        self.assertEqual((onboarding + same_customer).mapped("state"), ["combined", "combined"])
        self.assertEqual(support.transaction_price, 1700.0)
        # SSP 1,200 + 500 + 200 = 1,900: 1,700 x 12/19 = 1,073.684 -> 1,073.68,
        # 1,700 x 5/19 = 447.368 -> 447.37, 1,700 x 2/19 = 178.947 -> 178.95.
        self.assertEqual(
            [o.allocated_amount for o in support.obligation_ids.sorted("sequence")],
            [1073.68, 447.37, 178.95],
        )
        support.invalidate_recordset(["combine_candidate_ids"])
        self.assertFalse(support.combine_candidate_ids, "combined contracts are no candidates")

    def test_combine_errors(self):
        support, onboarding = self._pair()
        other = self._q2c_contract(
            200.0,
            [self._q2c_obligation(self.product_setup, ssp=200.0, start="2026-01-05")],
            partner_id=self.partner_b.id,
        )
        with self.assertRaisesRegex(UserError, "only contracts with one customer"):
            (support + other).combine()
        eur_currency = self.env.ref("base.EUR")
        eur_currency.active = True
        eur = self._q2c_contract(
            200.0,
            [self._q2c_obligation(self.product_setup, ssp=200.0, start="2026-01-05")],
            currency=eur_currency,
        )
        with self.assertRaisesRegex(UserError, "different currency"):
            (support + eur).combine()
        onboarding.action_activate()
        self.Run.run_recognition("2026-01-31")
        onboarding.action_close()
        with self.assertRaisesRegex(UserError, "only draft or active contracts"):
            (support + onboarding).combine()
