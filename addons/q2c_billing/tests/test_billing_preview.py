from datetime import date

from odoo.tests import tagged

from .common import Q2cSubscriptionCommon


@tagged("post_install", "-at_install")
class TestBillingPreview(Q2cSubscriptionCommon):
    def test_preview_tax_excluded(self):
        sub = self._q2c_subscription([(self.plan_platform, 1), (self.plan_seat, 7)])
        preview = sub.preview_invoice("2026-01-01")
        self.assertEqual(preview["period_start"], "2026-01-01")
        self.assertEqual(preview["period_end"], "2026-01-31")
        self.assertEqual(preview["currency"], "USD")
        self.assertEqual(
            (preview["untaxed"], preview["tax"], preview["total"]), (170.0, 17.0, 187.0)
        )
        self.assertEqual(len(preview["lines"]), 2)
        seat = preview["lines"][1]
        self.assertEqual(
            (seat["quantity"], seat["price_unit"], seat["amount"], seat["tax"]),
            (7.0, 10.0, 70.0, 7.0),
        )
        self.assertEqual((seat["period_start"], seat["period_end"]), ("2026-01-01", "2026-01-31"))
        # Pure.
        self.assertEqual(sub.next_invoice_date, date(2026, 1, 1))
        self.assertFalse(sub.billed_period_ids)

    def test_preview_tax_included(self):
        sub = self._q2c_subscription([(self.plan_incl, 1)])
        preview = sub.preview_invoice("2026-01-10")
        self.assertEqual(
            (preview["untaxed"], preview["tax"], preview["total"]), (100.0, 21.0, 121.0)
        )

    def test_preview_matches_the_invoice(self):
        sub = self._q2c_subscription(
            [
                (self.plan_platform, 1),
                (self.plan_seat, 3, {"discount": 15.0}),
                (self.plan_incl, 1),
                (self.plan_untaxed, 1),
                (self.plan_setup, 1),
            ],
            start=date(2026, 1, 17),
            alignment="calendar",
        )
        preview = sub.preview_invoice("2026-01-17")
        invoice = self._invoices(self._run(date(2026, 1, 17)))
        self.assertEqual(preview["untaxed"], invoice.amount_untaxed)
        self.assertEqual(preview["tax"], invoice.amount_tax)
        self.assertEqual(preview["total"], invoice.amount_total)
        self.assertEqual(len(preview["lines"]), len(invoice.invoice_line_ids))
        for line, inv_line in zip(preview["lines"], invoice.invoice_line_ids):
            self.assertEqual(line["amount"], inv_line.price_subtotal)
            self.assertEqual(line["total"], inv_line.price_total)
        # Calendar alignment: Jan 17-31 of January (15/31).
        self.assertEqual(preview["period_end"], "2026-01-31")
        self.assertEqual(preview["lines"][0]["amount"], 48.39)

    def test_preview_of_a_later_and_a_billed_period(self):
        sub = self._q2c_subscription([(self.plan_seat, 2), (self.plan_setup, 1)])
        self._run(date(2026, 1, 1))
        later = sub.preview_invoice("2026-03-20")
        self.assertEqual((later["period_start"], later["period_end"]), ("2026-03-01", "2026-03-31"))
        self.assertEqual(later["untaxed"], 20.0, "no one-time charge again")
        # A billed period is recomputed (its one-time charges are billed already).
        billed = sub.preview_invoice("2026-01-15")
        self.assertEqual(billed["period_start"], "2026-01-01")
        self.assertEqual(billed["untaxed"], 20.0)

    def test_preview_eur_and_quarterly(self):
        sub = self._q2c_subscription(
            [(self.plan_seat_eur, 10)],
            partner=self.partner_eu,
            currency=self.eur,
            billing_period="quarter",
        )
        preview = sub.preview_invoice("2026-02-01")
        self.assertEqual(preview["currency"], "EUR")
        self.assertEqual(preview["period_end"], "2026-03-31")
        self.assertEqual(preview["untaxed"], 270.0)

    def test_preview_draft(self):
        sub = self._q2c_subscription(
            [(self.plan_seat, 1)], activate=False, trial_end_date=date(2026, 1, 31)
        )
        preview = sub.preview_invoice("2026-01-05")
        self.assertEqual(preview["period_start"], "2026-02-01")
        self.assertEqual(preview["untaxed"], 10.0)
