from datetime import date

from odoo.exceptions import UserError, ValidationError
from odoo.tests import Form, tagged

from .common import Q2cSubscriptionCommon


@tagged("post_install", "-at_install")
class TestSubscriptionAmendment(Q2cSubscriptionCommon):
    def _line(self, sub, product=None):
        product = product or self.product_seat
        return sub.line_ids.filtered(lambda line: line.product_id == product)

    def test_pro_stripe_01(self):
        """PRO-STRIPE-01: 10 -> 20 at half of the period: -5.00 / +10.00, net 5.00."""
        sub = self._q2c_subscription([(self.plan_seat, 1)], start=date(2026, 4, 1))
        self._run(date(2026, 4, 1))
        line = self._line(sub)
        changes = [{"line_id": line.id, "price_plan_id": self.plan_seat_20.id}]
        preview = sub.preview_change(changes, "2026-04-16")
        self.assertEqual([round(x["amount"], 2) for x in preview["lines"]], [-5.0, 10.0])
        self.assertEqual(preview["net"], 5.0)
        self.assertEqual(preview["currency"], "USD")
        self.assertEqual(preview["new_recurring_total"], 20.0)
        self.assertEqual(preview["mrr_delta"], 10.0)
        for proration in preview["lines"]:
            self.assertEqual(proration["period_start"], "2026-04-16")
            self.assertEqual(proration["period_end"], "2026-04-30")
            self.assertIn("2026-04-16", proration["description"])
        self.assertIn("Unused time", preview["lines"][0]["description"])
        self.assertIn("Remaining time", preview["lines"][1]["description"])
        # Pure: nothing changed.
        self.assertEqual(line.price_plan_id, self.plan_seat)
        self.assertFalse(sub.change_ids)
        applied = sub.apply_change(changes, "2026-04-16")
        self.assertEqual(applied, preview)
        self.assertEqual(line.price_plan_id, self.plan_seat_20)
        self.assertEqual(sub.mrr, 20.0)

    def test_upgrade_billed_at_once(self):
        sub = self._q2c_subscription([(self.plan_seat, 1)], start=date(2026, 4, 1))
        self._run(date(2026, 4, 1))
        line = self._line(sub)
        sub.apply_change(
            [{"line_id": line.id, "price_plan_id": self.plan_seat_20.id}], date(2026, 4, 16)
        )
        change = sub.change_ids
        self.assertEqual(len(change), 1)
        self.assertEqual(change.billing_state, "invoiced")
        self.assertEqual(change.user_id, self.env.user)
        self.assertEqual(change.old_price_plan_id, self.plan_seat)
        self.assertEqual(change.new_price_plan_id, self.plan_seat_20)
        self.assertEqual((change.credit_amount, change.charge_amount), (-5.0, 10.0))
        self.assertEqual(change.proration_amount, 5.0)
        invoice = change.move_id
        self.assertEqual(invoice.state, "posted")
        self.assertEqual(invoice.amount_untaxed, 5.0)
        self.assertEqual(sorted(invoice.invoice_line_ids.mapped("price_subtotal")), [-5.0, 10.0])
        self.assertEqual(
            set(invoice.invoice_line_ids.mapped("q2c_period_start")), {date(2026, 4, 16)}
        )
        self.assertMoveBalanced(invoice)
        # Next period at the new price, nothing pending.
        next_invoice = self._invoices(self._run(date(2026, 5, 1)))
        self.assertEqual(next_invoice.amount_untaxed, 20.0)

    def test_upgrade_on_next_invoice_by_setting(self):
        self.company.q2c_upgrade_billing = "next_invoice"
        sub = self._q2c_subscription([(self.plan_seat, 1)], start=date(2026, 4, 1))
        self._run(date(2026, 4, 1))
        sub.apply_change([{"line_id": self._line(sub).id, "quantity": 2}], date(2026, 4, 16))
        self.assertEqual(sub.change_ids.billing_state, "pending")
        invoice = self._invoices(self._run(date(2026, 5, 1)))
        self.assertEqual(
            sorted(invoice.invoice_line_ids.mapped("price_subtotal")), [-5.0, 10.0, 20.0]
        )
        self.assertEqual(invoice.amount_untaxed, 25.0)
        self.assertEqual(sub.change_ids.billing_state, "invoiced")
        self.assertEqual(sub.change_ids.move_id, invoice)

    def test_downgrade_credits_next_invoice(self):
        sub = self._q2c_subscription([(self.plan_seat, 10)], start=date(2026, 8, 1))
        self._run(date(2026, 8, 1))
        result = sub.apply_change(
            [{"line_id": self._line(sub).id, "quantity": 4}], date(2026, 8, 18)
        )
        # Aug 18-31 = 14/31: credit 100 x 14/31 = 45.16, charge 40 x 14/31 = 18.06.
        self.assertEqual([x["amount"] for x in result["lines"]], [-45.16, 18.06])
        self.assertEqual(result["net"], -27.1)
        self.assertEqual(result["mrr_delta"], -60.0)
        self.assertEqual(sub.change_ids.billing_state, "pending")
        invoice = self._invoices(self._run(date(2026, 9, 1)))
        self.assertEqual(invoice.amount_untaxed, 12.9)
        self.assertMoveBalanced(invoice)

    def test_thirty_360_policy(self):
        sub = self._q2c_subscription(
            [(self.plan_seat, 10)], start=date(2026, 8, 1), proration_policy="thirty_360"
        )
        self._run(date(2026, 8, 1))
        result = sub.preview_change(
            [{"line_id": self._line(sub).id, "quantity": 15}], date(2026, 8, 18)
        )
        # Aug 18-31 = 14 days of 30.
        self.assertEqual([x["amount"] for x in result["lines"]], [-46.67, 70.0])
        self.assertEqual(result["net"], 23.33)

    def test_none_policy_takes_effect_next_period(self):
        sub = self._q2c_subscription(
            [(self.plan_seat, 10)], start=date(2026, 8, 1), proration_policy="none"
        )
        self._run(date(2026, 8, 1))
        result = sub.apply_change(
            [{"line_id": self._line(sub).id, "quantity": 15}], date(2026, 8, 18)
        )
        self.assertEqual(result["lines"], [])
        self.assertEqual(result["net"], 0.0)
        self.assertEqual(result["new_recurring_total"], 150.0)
        self.assertEqual(sub.change_ids.effective_date, date(2026, 9, 1))
        self.assertEqual(sub.change_ids.billing_state, "none")
        invoice = self._invoices(self._run(date(2026, 9, 1)))
        self.assertEqual(invoice.amount_untaxed, 150.0)

    def test_change_before_the_period_is_billed(self):
        """The window is billed with the lines as they stood on its first day; the proration
        covers the rest, whichever comes first."""
        sub = self._q2c_subscription([(self.plan_seat, 1)], start=date(2026, 4, 1))
        sub.apply_change(
            [{"line_id": self._line(sub).id, "price_plan_id": self.plan_seat_20.id}],
            date(2026, 4, 16),
        )
        self.assertEqual(sub.change_ids.move_id.amount_untaxed, 5.0)
        invoice = self._invoices(self._run(date(2026, 4, 1)))
        self.assertEqual(invoice.amount_untaxed, 10.0, "April at the old price")
        preview = sub.preview_invoice(date(2026, 5, 1))
        self.assertEqual(preview["untaxed"], 20.0)

    def test_add_and_remove_lines(self):
        sub = self._q2c_subscription(
            [(self.plan_seat, 10), (self.plan_platform, 1)], start=date(2026, 4, 1)
        )
        self._run(date(2026, 4, 1))
        platform = self._line(sub, self.product_platform)
        result = sub.apply_change(
            [
                {"line_id": False, "product_id": self.product_incl.id, "quantity": 1},
                {"line_id": platform.id, "quantity": 0},
            ],
            date(2026, 4, 21),
        )
        # Apr 21-30 = 10/30: + 121 x 1/3 = 40.33, - 100 x 1/3 = 33.33.
        self.assertEqual([x["amount"] for x in result["lines"]], [40.33, -33.33])
        self.assertEqual(result["net"], 7.0)
        self.assertEqual(result["new_recurring_total"], 221.0)
        self.assertEqual(platform.end_date, date(2026, 4, 20))
        added = self._line(sub, self.product_incl)
        self.assertEqual(added.price_plan_id, self.plan_incl)
        self.assertEqual(added.start_date, date(2026, 4, 21))
        self.assertEqual(set(sub.change_ids.mapped("change_type")), {"add", "remove"})
        invoice = self._invoices(self._run(date(2026, 5, 1)))
        self.assertEqual(
            invoice.invoice_line_ids.mapped("product_id"), self.product_seat | self.product_incl
        )
        self.assertEqual(invoice.amount_total, 100.0 + 10.0 + 121.0)

    def test_eur_amendment(self):
        sub = self._q2c_subscription(
            [(self.plan_seat_eur, 2)],
            partner=self.partner_eu,
            currency=self.eur,
            start=date(2026, 4, 1),
        )
        result = sub.preview_change(
            [{"line_id": sub.line_ids.id, "quantity": 4}], date(2026, 4, 16)
        )
        self.assertEqual(result["currency"], "EUR")
        self.assertEqual([x["amount"] for x in result["lines"]], [-9.0, 18.0])
        with self.assertRaisesRegex(ValidationError, "price plan .* is in USD"):
            sub.preview_change(
                [{"line_id": sub.line_ids.id, "price_plan_id": self.plan_seat.id}],
                date(2026, 4, 16),
            )

    def test_bad_input_names_the_item(self):
        sub = self._q2c_subscription([(self.plan_seat, 1)], start=date(2026, 4, 1))
        line = self._line(sub)
        cases = [
            ([{"line_id": 999999, "quantity": 2}], r"changes\[0\].*line_id 999999 is not a line"),
            (
                [{"line_id": False, "product_id": self.product_a.id, "quantity": 1}],
                r"changes\[0\].*product_a has no price plan in USD",
            ),
            (
                [{"line_id": line.id, "quantity": -3}],
                r"changes\[0\] \(Seat\).*'quantity' cannot be negative",
            ),
            ([{"line_id": line.id, "quantity": "many"}], r"'quantity' must be a number"),
            ([{"line_id": False, "quantity": 1}], r"'product_id' is required"),
            (
                [{"line_id": line.id, "price_plan_id": self.plan_platform.id}],
                r"is not a plan of Seat",
            ),
            ([{"line_id": line.id, "colour": "red"}], r"unknown key\(s\) colour"),
            ([], r"'changes' must be a non-empty list"),
            ("nope", r"'changes' must be a non-empty list"),
        ]
        for changes, message in cases:
            with self.subTest(message=message), self.assertRaisesRegex(ValidationError, message):
                sub.preview_change(changes, "2026-04-16")
        with self.assertRaisesRegex(ValidationError, r"'effective_date' \(2026-06-16\) is outside"):
            sub.preview_change([{"line_id": line.id, "quantity": 2}], "2026-06-16")
        with self.assertRaisesRegex(ValidationError, r"'effective_date' \(2026-03-31\) is outside"):
            sub.preview_change([{"line_id": line.id, "quantity": 2}], "2026-03-31")
        with self.assertRaisesRegex(ValidationError, r"'effective_date' must be a date"):
            sub.preview_change([{"line_id": line.id, "quantity": 2}], "16/04/2026")
        sub.action_pause(date(2026, 4, 20))
        with self.assertRaisesRegex(UserError, "cannot be amended: it is Paused"):
            sub.apply_change([{"line_id": line.id, "quantity": 2}], "2026-04-21")
        self.assertFalse(sub.change_ids)

    def test_draft_changes_apply_without_proration(self):
        sub = self._q2c_subscription([(self.plan_seat, 1)], activate=False)
        result = sub.apply_change([{"line_id": sub.line_ids.id, "quantity": 3}], "2026-01-10")
        self.assertEqual(result["lines"], [])
        self.assertEqual(result["new_recurring_total"], 30.0)
        sub.action_activate()
        invoice = self._invoices(self._run(date(2026, 1, 1)))
        self.assertEqual(invoice.amount_untaxed, 30.0)

    def test_in_arrears_change(self):
        sub = self._q2c_subscription([(self.plan_untaxed_arrears, 1)], start=date(2026, 4, 1))
        self.assertEqual(self._run(date(2026, 4, 1))["invoice_ids"], [])
        sub.apply_change([{"line_id": sub.line_ids.id, "quantity": 2}], date(2026, 4, 16))
        # Charged at the end of April: 62 (April at the start quantity), -31 + 62 proration.
        invoices = (
            self.env["account.move"].browse(self._run(date(2026, 5, 1))["invoice_ids"])
            | sub.change_ids.move_id
        )
        self.assertEqual(sum(invoices.mapped("amount_total_signed")), 62.0 + 31.0)

    def test_amend_wizard(self):
        sub = self._q2c_subscription(
            [(self.plan_seat, 1), (self.plan_platform, 1)], start=date(2026, 4, 1)
        )
        self._run(date(2026, 4, 1))
        action = sub.action_open_amend_wizard()
        wizard = Form(self.env[action["res_model"]].with_context(**action["context"]))
        wizard.effective_date = date(2026, 4, 16)
        with wizard.line_ids.edit(0) as row:
            row.price_plan_id = self.plan_seat_20
        wizard.line_ids.remove(1)
        self.assertIn("Remaining time on 1 x Seat (Seat premium)", wizard.preview_html)
        self.assertIn("Unused time on 1 x Platform", wizard.preview_html)
        self.assertIn("45.00", wizard.preview_html, "net: -5 + 10 - 50")
        wizard.save().action_apply()
        self.assertEqual(self._line(sub).price_plan_id, self.plan_seat_20)
        self.assertEqual(self._line(sub, self.product_platform).end_date, date(2026, 4, 15))
        self.assertEqual(len(sub.change_ids), 2)
