from collections import defaultdict

from odoo import fields
from odoo.tests import tagged

from .usage_common import Q2cUsageCommon


@tagged("post_install", "-at_install")
class TestQ2cDemoGenerator(Q2cUsageCommon):
    """The demo history generator replays a few customers through the engine: what a user of
    the demo depends on (posted and balanced invoices, payments reconciled to the cent, MRR
    movements that add up to the subscriptions' MRR) holds, and a second run adds nothing."""

    CUSTOMERS = 8
    SEED = 7

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.catalog = {
            "platform_usd": cls.plan_platform,
            "platform_eur": cls.plan_platform_eur,
            "seat_usd": cls.plan_seat,
            "seat_eur": cls.plan_seat_eur,
            "api_usd": cls.plan_calls,
            "storage_usd": cls.plan_storage,
            "onboarding_usd": cls.plan_setup,
            "support_usd": cls.plan_gold_yearly,
        }
        cls.today = fields.Date.context_today(cls.env["q2c.subscription"])
        cls.summary = cls.env["q2c.demo.generator"]._q2c_generate(
            customers=cls.CUSTOMERS, seed=cls.SEED, months=6, catalog=cls.catalog
        )
        cls.partners = cls.env["res.partner"].search([("ref", "=like", "Q2C-DEMO-%")])
        cls.subs = cls.env["q2c.subscription"].search([("partner_id", "in", cls.partners.ids)])
        cls.moves = cls.env["account.move"].search(
            [
                ("partner_id", "in", cls.partners.ids),
                ("move_type", "in", ("out_invoice", "out_refund")),
            ]
        )

    def test_counts_as_generated(self):
        self.assertEqual(len(self.partners), self.CUSTOMERS)
        self.assertEqual(self.summary["customers"], self.CUSTOMERS)
        # (Quotes confirmed by the demo pipeline, with q2c_cpq, start more subscriptions.)
        generated = self.subs.filtered(lambda sub: not sub.sale_order_id)
        self.assertEqual(self.summary["subscriptions"], len(generated))
        self.assertEqual(len(generated.partner_id), self.CUSTOMERS, "one subscription each")
        invoices = self.moves.filtered(lambda move: move.move_type == "out_invoice")
        self.assertTrue(invoices, "the billing runs invoiced the history")
        self.assertEqual(self.summary["invoices"], len(invoices))
        self.assertEqual(self.summary["credit_notes"], len(self.moves) - len(invoices))
        paid = invoices.filtered(lambda move: move.payment_state in ("paid", "in_payment"))
        self.assertEqual(self.summary["invoices_paid"], len(paid))
        self.assertEqual(
            self.summary["usage_events"],
            self.env["q2c.usage.event"].search_count([("subscription_id", "in", self.subs.ids)]),
        )
        self.assertEqual(
            self.summary["mrr_movements"],
            self.env["q2c.mrr.movement"].search_count([("partner_id", "in", self.partners.ids)]),
        )
        # Subscriptions started over the six months before today, none in the future.
        start = fields.Date.to_date(self.summary["from"])
        for sub in self.subs:
            self.assertTrue(start <= sub.start_date <= self.today, sub.name)
            self.assertNotEqual(sub.state, "draft", sub.name)

    def test_invoices_posted_balanced_and_equal_to_their_lines(self):
        self.assertTrue(self.moves)
        for move in self.moves:
            self.assertEqual(move.state, "posted", move.name)
            self.assertTrue(move.invoice_date <= self.today, move.name)
            currency = move.currency_id
            self.assertEqual(
                currency.compare_amounts(
                    move.amount_untaxed, sum(move.invoice_line_ids.mapped("price_subtotal"))
                ),
                0,
                move.name,
            )
            self.assertEqual(
                currency.compare_amounts(
                    move.amount_total, sum(move.invoice_line_ids.mapped("price_total"))
                ),
                0,
                move.name,
            )
        self.assertMoveBalanced(self.moves)

    def test_paid_invoices_reconciled_with_their_payment(self):
        paid = self.moves.filtered(
            lambda move: (
                move.move_type == "out_invoice" and move.payment_state in ("paid", "in_payment")
            )
        )
        self.assertTrue(paid, "most invoices of the history are paid")
        for invoice in paid:
            payments = invoice._get_reconciled_payments()
            self.assertEqual(len(payments), 1, invoice.name)
            self.assertTrue(invoice.currency_id.is_zero(invoice.amount_residual), invoice.name)
            self.assertEqual(payments.currency_id, invoice.currency_id, invoice.name)
            self.assertEqual(
                invoice.currency_id.compare_amounts(payments.amount, invoice.amount_total),
                0,
                invoice.name,
            )
            self.assertTrue(invoice.invoice_date <= payments.date <= self.today, invoice.name)
        for move in self.moves.filtered(lambda move: move.payment_state == "not_paid"):
            self.assertEqual(
                move.currency_id.compare_amounts(move.amount_residual, move.amount_total),
                0,
                move.name,
            )

    def test_mrr_movements_add_up_to_the_subscriptions(self):
        """Per customer, the movements up to today sum to the MRR of its active
        subscriptions (company currency); the first paying movement is new business."""
        movements = self.env["q2c.mrr.movement"].search(
            [("partner_id", "in", self.partners.ids)], order="date, id"
        )
        by_partner = defaultdict(lambda: self.env["q2c.mrr.movement"])
        for movement in movements:
            by_partner[movement.partner_id] |= movement
        currency = self.company.currency_id
        for partner in self.partners:
            subs = self.subs.filtered(lambda sub, p=partner: sub.partner_id == p)
            expected = sum(subs.filtered(lambda sub: sub.state == "active").mapped("mrr_company"))
            moves = by_partner[partner].filtered(lambda m: m.date <= self.today)
            self.assertEqual(
                currency.compare_amounts(sum(moves.mapped("mrr_delta")), expected),
                0,
                f"{partner.name}: movements {sum(moves.mapped('mrr_delta'))}, subscriptions "
                f"{[(sub.name, sub.state, sub.mrr_company) for sub in subs]}",
            )
            if moves:
                self.assertEqual(moves[0].type, "new_business", partner.name)
                self.assertEqual(
                    currency.compare_amounts(moves[-1].mrr_after, sum(moves.mapped("mrr_delta"))),
                    0,
                    partner.name,
                )
        self.assertEqual(
            currency.compare_amounts(
                self.summary["mrr"],
                sum(self.subs.filtered(lambda sub: sub.state == "active").mapped("mrr_company"))
                + self._mrr_of_others(),
            ),
            0,
        )

    def _mrr_of_others(self):
        """MRR today of the customers the generator did not create (demo data, if any)."""
        others = self.env["q2c.mrr.movement"].search(
            [
                ("partner_id", "not in", self.partners.ids),
                ("company_id", "=", self.company.id),
                ("date", "<=", self.today),
            ]
        )
        return sum(others.mapped("mrr_delta"))

    def test_rerun_adds_nothing(self):
        counts = self._counts()
        summary = self.env["q2c.demo.generator"]._q2c_generate(
            customers=self.CUSTOMERS, seed=self.SEED, months=6, catalog=self.catalog
        )
        self.assertTrue(summary["skipped"])
        self.assertEqual(summary["invoices"], self.summary["invoices"])
        self.assertEqual(self._counts(), counts)

    def _counts(self):
        return {
            model: self.env[model].search_count([])
            for model in (
                "res.partner",
                "q2c.subscription",
                "account.move",
                "account.payment",
                "q2c.usage.event",
                "q2c.mrr.movement",
            )
        }

    def test_same_seed_same_plan(self):
        Generator = self.env["q2c.demo.generator"]
        ctx = Generator._q2c_demo_context(self.CUSTOMERS, self.SEED, 6, None, self.catalog, False)
        again = Generator._q2c_demo_context(self.CUSTOMERS, self.SEED, 6, None, self.catalog, False)
        other = Generator._q2c_demo_context(
            self.CUSTOMERS, self.SEED + 1, 6, None, self.catalog, False
        )
        profiles = [Generator._q2c_demo_profile(ctx, index) for index in range(20)]
        self.assertEqual(profiles, [Generator._q2c_demo_profile(again, i) for i in range(20)])
        self.assertNotEqual(profiles, [Generator._q2c_demo_profile(other, i) for i in range(20)])
        # The generated customers are those of the plan, in order.
        self.assertEqual(
            [partner.country_id.code for partner in self.partners.sorted("ref")],
            [
                self.env.ref(Generator._q2c_demo_profile(ctx, i)["country"]).code
                for i in range(self.CUSTOMERS)
            ],
        )
