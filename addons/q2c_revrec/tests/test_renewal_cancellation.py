from odoo import Command, fields
from odoo.tests import tagged

from .common import Q2cRevrecCommon


@tagged("post_install", "-at_install")
class TestQ2cRevrecRenewalCancellation(Q2cRevrecCommon):
    """Renewals and cancellations of subscriptions modify their revenue contracts.

    Support at 100.00 a month (flat), billed monthly in advance, recognized ratably by month.
    """

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._q2c_setup_subscriptions()
        cls.Billing = cls.env["q2c.billing.run"]
        cls.Run = cls.env["q2c.revrec.run"]

    def _subscription(self, end_date, **vals):
        sub = self.env["q2c.subscription"].create(
            {
                "partner_id": self.partner_a.id,
                "currency_id": self.usd.id,
                "start_date": "2026-01-01",
                "end_date": end_date,
                "line_ids": [
                    Command.create(
                        {
                            "product_id": self.product_support.id,
                            "price_plan_id": self.plan_support.id,
                            "quantity": 1,
                        }
                    )
                ],
                **vals,
            }
        )
        sub.action_activate()
        return sub

    def _bill(self, *days):
        for day in days:
            self.Billing.run_billing(day)

    def _assert_reconciled(self):
        self.env.flush_all()
        self.assertFalse(self.env["q2c.revrec.reconciliation"]._q2c_reconciliation_differences())

    def _renewed_subscription(self):
        """January-June term renewed automatically for six months with a 10% uplift by the
        billing run of July 1st."""
        sub = self._subscription(
            "2026-06-30", auto_renew=True, renewal_term_months=6, renewal_uplift_pct=10.0
        )
        first = sub.q2c_revenue_contract_ids
        self.assertEqual(first.transaction_price, 600.0)
        self._bill(*(f"2026-{month:02d}-01" for month in range(1, 8)))
        self.assertEqual(fields.Date.to_string(sub.end_date), "2026-12-31")
        self.assertEqual(sub.renewal_count, 1)
        return sub, first

    def test_renewal_separate_contract(self):
        """Separate policy (default): the renewal term is a new contract of 6 x 110.00 =
        660.00 from July 1st; the July invoice (110.00, made before the renewal was recorded)
        bills it; the first contract keeps its 600.00."""
        self.assertEqual(self.company.q2c_revrec_renewal_policy, "separate")
        sub, first = self._renewed_subscription()
        renewal = sub.q2c_revenue_contract_ids - first
        self.assertEqual(len(renewal), 1)
        self.assertEqual(renewal.state, "active")
        self.assertEqual(fields.Date.to_string(renewal.date), "2026-07-01")
        self.assertEqual(renewal.transaction_price, 660.0)
        self.assertEqual(first.transaction_price, 600.0)
        obligation = renewal.obligation_ids
        self.assertEqual(
            (
                fields.Date.to_string(obligation.start_date),
                fields.Date.to_string(obligation.end_date),
                obligation.allocated_amount,
            ),
            ("2026-07-01", "2026-12-31", 660.0),
        )
        self.assertEqual(set(self._q2c_schedule(renewal).values()), {110.0})
        july = (
            self.env["account.move.line"]
            .search([("q2c_subscription_id", "=", sub.id), ("date", "=", "2026-07-01")])
            .move_id
        )
        self.assertEqual(july.invoice_line_ids.q2c_revenue_contract_id, renewal)
        self.assertEqual(july.amount_untaxed, 110.0)
        self.Run.run_recognition("2026-07-31")
        self.assertEqual((first.recognized_amount, renewal.recognized_amount), (600.0, 110.0))
        self.assertEqual((first.billed_amount, renewal.billed_amount), (600.0, 110.0))
        self.assertEqual(self._q2c_balance(self.deferred_account), 0.0)
        self.assertEqual(self._q2c_balance(self.unbilled_account), 0.0)
        self._assert_reconciled()
        # The August invoice bills the renewal contract too.
        self._bill("2026-08-01")
        renewal.invalidate_recordset()
        self.assertEqual(renewal.billed_amount, 220.0)

    def test_renewal_prospective_extension(self):
        """Prospective policy: the contract runs until December 31st; price 600.00 + 660.00 =
        1,260.00; on July 1st the January-June term is satisfied (600.00), the remaining
        660.00 go over July-December: 110.00 a month."""
        self.company.q2c_revrec_renewal_policy = "prospective"
        sub, contract = self._renewed_subscription()
        self.assertEqual(sub.q2c_revenue_contract_ids, contract)
        self.assertEqual(contract.transaction_price, 1260.0)
        self.assertEqual(fields.Date.to_string(contract.obligation_ids.end_date), "2026-12-31")
        self.assertEqual(
            self._q2c_schedule(contract),
            {
                **{f"2026-{m:02d}-{d}": 100.0 for m, d in ((1, 31), (2, 28), (3, 31))},
                **{f"2026-{m:02d}-{d}": 100.0 for m, d in ((4, 30), (5, 31), (6, 30))},
                **{f"2026-{m:02d}-{d}": 110.0 for m, d in ((7, 31), (8, 31), (9, 30))},
                **{f"2026-{m:02d}-{d}": 110.0 for m, d in ((10, 31), (11, 30), (12, 31))},
            },
        )
        self.Run.run_recognition("2026-07-31")
        contract.invalidate_recordset()
        self.assertEqual((contract.recognized_amount, contract.billed_amount), (710.0, 710.0))
        self.assertEqual(self._q2c_balance(self.deferred_account), 0.0)
        self._assert_reconciled()

    def _caught_up_subscription(self):
        """January-June term, renewed every six months with a 10% uplift; billed January to
        June, then not before January 1st, 2027: that run renews two terms at once (July to
        December at 110.00 a month, January to June 2027 at 121.00)."""
        sub = self._subscription(
            "2026-06-30", auto_renew=True, renewal_term_months=6, renewal_uplift_pct=10.0
        )
        first = sub.q2c_revenue_contract_ids
        self._bill(*(f"2026-{month:02d}-01" for month in range(1, 7)), "2027-01-01")
        self.assertEqual(fields.Date.to_string(sub.end_date), "2027-06-30")
        self.assertEqual(sub.renewal_count, 2)
        return sub, first

    def test_renewals_caught_up_separate_contracts(self):
        """Separate policy: one contract per renewal term at the prices of its term: 6 x
        110.00 = 660.00 from July 1st and 6 x 121.00 = 726.00 from January 1st; the invoice
        lines of each term bill its contract."""
        sub, first = self._caught_up_subscription()
        renewals = (sub.q2c_revenue_contract_ids - first).sorted("date")
        self.assertEqual(
            [(fields.Date.to_string(c.date), c.transaction_price) for c in renewals],
            [("2026-07-01", 660.0), ("2027-01-01", 726.0)],
        )
        self.assertEqual(set(self._q2c_schedule(renewals[0]).values()), {110.0})
        self.assertEqual(set(self._q2c_schedule(renewals[1]).values()), {121.0})
        renewals.invalidate_recordset()
        self.assertEqual(
            [first.billed_amount, *renewals.mapped("billed_amount")], [600.0, 660.0, 121.0]
        )
        self.Run.run_recognition("2027-01-31")
        (first | renewals).invalidate_recordset()
        self.assertEqual(
            [first.recognized_amount, *renewals.mapped("recognized_amount")],
            [600.0, 660.0, 121.0],
        )
        self.assertEqual(self._q2c_balance(self.deferred_account), 0.0)
        self.assertEqual(self._q2c_balance(self.unbilled_account), 0.0)
        self._assert_reconciled()

    def test_renewals_caught_up_prospective(self):
        """Prospective policy: the contract is extended term by term: 600.00 + 660.00 +
        726.00 = 1,986.00, recognized 100.00, then 110.00, then 121.00 a month."""
        self.company.q2c_revrec_renewal_policy = "prospective"
        sub, contract = self._caught_up_subscription()
        self.assertEqual(sub.q2c_revenue_contract_ids, contract)
        self.assertEqual(contract.transaction_price, 1986.0)
        self.assertEqual(fields.Date.to_string(contract.obligation_ids.end_date), "2027-06-30")
        schedule = self._q2c_schedule(contract)
        self.assertEqual(
            [schedule[day] for day in ("2026-06-30", "2026-07-31", "2026-12-31", "2027-01-31")],
            [100.0, 110.0, 110.0, 121.0],
        )
        self.assertEqual(sum(schedule.values()), 1986.0)
        self.Run.run_recognition("2027-01-31")
        contract.invalidate_recordset()
        self.assertEqual((contract.recognized_amount, contract.billed_amount), (1381.0, 1381.0))
        self._assert_reconciled()

    def test_renewal_by_hand_adds_products(self):
        """A renewal made by a quote (or by hand): the lines of the new term are in place when
        the end date moves. A second product from the renewal start is a new obligation of
        the renewal contract: support 6 x 100 = 600.00 and onboarding-like service at 50.00 a
        month, 300.00; total 900.00."""
        sub = self._subscription("2026-06-30")
        plan_extra = self.env["q2c.price.plan"].create(
            {
                "name": "SaaS monthly",
                "product_id": self.product_saas.id,
                "currency_id": self.usd.id,
                "charge_type": "recurring",
                "charge_model": "flat",
                "flat_price": 50.0,
            }
        )
        self.env["q2c.subscription.line"].create(
            {
                "subscription_id": sub.id,
                "product_id": self.product_saas.id,
                "price_plan_id": plan_extra.id,
                "quantity": 1,
                "start_date": "2026-07-01",
            }
        )
        sub.end_date = "2026-12-31"
        renewal = sub.q2c_revenue_contract_ids.filtered(
            lambda c: fields.Date.to_string(c.date) == "2026-07-01"
        )
        self.assertEqual(renewal.transaction_price, 900.0)
        self.assertEqual(
            sorted((o.product_id.name, o.allocated_amount) for o in renewal.obligation_ids),
            [("Premium Support", 600.0), ("SaaS Platform", 300.0)],
        )
        first = sub.q2c_revenue_contract_ids - renewal
        self.assertEqual(first.obligation_ids.product_id, self.product_support, "first term")
        self.assertEqual(first.transaction_price, 600.0)

    def test_cancellation_with_credit(self):
        """A year at 100.00 a month, billed January to March, closed on March 15th: the unused
        16 days of March are credited, 100 x 16 / 31 = 51.61. Satisfied by March 15th (monthly
        method): 1,200 x (2 + 15/31) / 12 = 248.387 -> 248.39, the price billed net of the
        credit (300.00 - 51.61 = 248.39). The schedule after March is removed."""
        sub = self._subscription("2026-12-31")
        contract = sub.q2c_revenue_contract_ids
        self.assertEqual(contract.transaction_price, 1200.0)
        self._bill("2026-01-01", "2026-02-01", "2026-03-01")
        self.Run.run_recognition("2026-02-28")
        sub.action_close("2026-03-15")
        change = self.env["q2c.subscription.change"].search([("subscription_id", "=", sub.id)])
        self.assertEqual(sum(change.mapped("proration_amount")), -51.61)
        self.assertEqual(contract.state, "active")
        self.assertEqual(contract.transaction_price, 248.39)
        self.assertEqual(fields.Date.to_string(contract.obligation_ids.end_date), "2026-03-15")
        self.assertEqual(
            self._q2c_schedule(contract),
            {"2026-01-31": 100.0, "2026-02-28": 100.0, "2026-03-31": 48.39},
        )
        posted = contract.schedule_line_ids.filtered(lambda line: line.state == "posted")
        self.assertEqual(posted.mapped("amount"), [100.0, 100.0], "nothing reversed")
        self._bill("2026-04-01")  # the final invoice credits the unused days
        contract.invalidate_recordset()
        self.assertEqual(contract.billed_amount, 248.39)
        self.Run.run_recognition("2026-03-31")
        contract.invalidate_recordset()
        self.assertEqual(contract.recognized_amount, 248.39)
        self.assertEqual(self._q2c_balance(self.deferred_account), 0.0)
        self.assertEqual(self._q2c_balance(self.unbilled_account), 0.0)
        self._assert_reconciled()
        self.assertFalse(self.Run.run_recognition("2026-12-31")["move_ids"], "nothing left")
        contract.action_close()
        self.assertEqual(contract.state, "closed")

    def test_cancellation_of_several_at_once(self):
        """Closed in one call on March 15th, each contract is cut with its own subscription's
        credit, as when closed one at a time: 248.39 for the two prorated ones (51.61 credited
        each), 300.00 for the one without proration."""
        subs = (
            self._subscription("2026-12-31")
            | self._subscription("2026-12-31", proration_policy="none")
            | self._subscription("2026-12-31")
        )
        self._bill("2026-01-01", "2026-02-01", "2026-03-01")
        subs.action_close("2026-03-15")
        credited = [
            sum(
                sub.change_ids.filtered(lambda c: c.change_type == "close").mapped(
                    "proration_amount"
                )
            )
            for sub in subs
        ]
        self.assertEqual(credited, [-51.61, 0.0, -51.61])
        self.assertEqual(
            subs.q2c_revenue_contract_ids.mapped("transaction_price"), [248.39, 300.0, 248.39]
        )
        for sub in subs:
            self.assertEqual(
                fields.Date.to_string(sub.q2c_revenue_contract_ids.obligation_ids.end_date),
                "2026-03-15",
            )
        self._bill("2026-04-01")
        self.Run.run_recognition("2026-03-31")
        self.assertEqual(self._q2c_balance(self.deferred_account), 0.0)
        self._assert_reconciled()

    def test_cancellation_without_refund(self):
        """No proration: the customer keeps paying the whole of March (300.00 billed), nothing
        is credited. Satisfied by March 15th: 248.39; the 51.61 billed for the rest of March and
        kept are recognized in March (the deferred revenue does not stay on the balance
        sheet); the nine months after are removed."""
        sub = self._subscription("2026-12-31", proration_policy="none")
        contract = sub.q2c_revenue_contract_ids
        self._bill("2026-01-01", "2026-02-01", "2026-03-01")
        sub.action_close("2026-03-15")
        self.assertEqual(contract.transaction_price, 300.0)
        self.assertEqual(
            self._q2c_schedule(contract),
            {"2026-01-31": 100.0, "2026-02-28": 100.0, "2026-03-31": 100.0},
        )
        self.Run.run_recognition("2026-03-31")
        self.assertEqual(self._q2c_balance(self.revenue_account), -300.0)
        self.assertEqual(self._q2c_balance(self.deferred_account), 0.0)
        self._assert_reconciled()

    def test_cancellation_in_first_month(self):
        """Closed on January 20th: the credit of the 11 unused days is billed on the final
        invoice, after the close; until then the contract liability holds it."""
        sub = self._subscription("2026-12-31")
        contract = sub.q2c_revenue_contract_ids
        self._bill("2026-01-01")
        sub.action_close("2026-01-20")
        # 1,200 x (20/31) / 12 = 64.516 -> 64.52 satisfied; billed 100.00 - 11 days credited
        # (100 x 11 / 31 = 35.48) = 64.52.
        self.assertEqual(contract.transaction_price, 64.52)
        self.assertEqual(self._q2c_schedule(contract), {"2026-01-31": 64.52})
        self.Run.run_recognition("2026-01-31")
        self.assertEqual(self._q2c_balance(self.revenue_account), -64.52)
        self.assertEqual(self._q2c_balance(self.deferred_account), -35.48, "credit not billed yet")
        self._assert_reconciled()
        self._bill("2026-01-21")
        self.Run.run_recognition("2026-01-31")
        self.assertEqual(self._q2c_balance(self.deferred_account), 0.0)
        self._assert_reconciled()
