from datetime import date

from freezegun import freeze_time

from odoo.tests import tagged

from .subscription_common import Q2cCpqSubscriptionCommon


@tagged("post_install", "-at_install")
class TestQ2cQuoteDocument(Q2cCpqSubscriptionCommon):
    """The quote PDF and the preview tab."""

    def _quote_with_plans(self):
        return self._quote(
            [
                (self.platform, 1),
                (self.seat, 10, {"discount": 10.0}),
                (self.setup_fee, 1),
                (self.training, 1),
            ],
            q2c_start_date=date(2026, 1, 1),
            q2c_term_months=12,
            validity_date=date(2025, 12, 31),
        )

    @freeze_time("2025-12-15")
    def test_report_html(self):
        order = self._quote_with_plans()
        html, __ = self.env["ir.actions.report"]._render_qweb_html(
            "sale.action_report_saleorder", order.ids
        )
        text = html.decode()
        for expected in (
            "Recurring and one-time charges",
            "per month",
            "$\xa0190.00",  # recurring per month
            "$\xa01,050.00",  # one-time: setup 250 + training 800
            "Invoice schedule",
            "2026-01-01",
            "$\xa01,240.00",  # first invoice
            "2026-12-01",
            "$\xa03,330.00",  # total contract value
            "12 months, until 2026-12-31",
            "This quote is valid until",
        ):
            self.assertIn(expected, text)

    @freeze_time("2025-12-15")
    def test_report_pdf(self):
        order = self._quote_with_plans()
        pdf, report_type = (
            self.env["ir.actions.report"]
            .with_context(force_report_rendering=True)
            ._render_qweb_pdf("sale.action_report_saleorder", order.ids)
        )
        self.assertEqual(report_type, "pdf")
        self.assertTrue(pdf.startswith(b"%PDF"))

    def test_report_of_a_plain_quote_has_no_subscription_section(self):
        order = self._quote([(self.training, 1)])
        html, __ = self.env["ir.actions.report"]._render_qweb_html(
            "sale.action_report_saleorder", order.ids
        )
        self.assertNotIn("Recurring and one-time charges", html.decode())

    @freeze_time("2025-12-15")
    def test_preview_tab(self):
        order = self._quote_with_plans()
        html = str(order.q2c_preview_html)
        self.assertIn("Total contract value", html)
        self.assertIn("$\xa03,330.00", html)
        order.action_confirm()
        order.invalidate_recordset(["q2c_preview_html"])
        self.assertFalse(order.q2c_preview_html)

    @freeze_time("2026-01-20")
    def test_preview_tab_shows_why_it_cannot_preview(self):
        amendment = self._quote([(self.seat, 1)], q2c_quote_type="amendment")
        self.assertIn("set the field", str(amendment.q2c_preview_html))
