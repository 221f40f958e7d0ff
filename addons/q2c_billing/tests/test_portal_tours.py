from odoo.tests import tagged

from .portal_common import Q2cPortalCommon


@tagged("post_install", "-at_install")
class TestSubscriptionPortalTours(Q2cPortalCommon):
    """Browser tours (headless Chromium) of the subscription portal."""

    def test_tour_view_and_change_quantity(self):
        self.start_tour(
            "/my/subscriptions", "q2c_portal_subscription_change", login="q2c_portal_a", timeout=300
        )
        seat = self.seat_line_a
        self.assertEqual(seat.quantity, 8)
        self.assertTrue(self.sub_a.change_ids)

    def test_tour_replace_payment_method(self):
        self.start_tour(
            f"/my/subscriptions/{self.sub_a.id}",
            "q2c_portal_replace_payment_method",
            login="q2c_portal_a",
            timeout=300,
        )
        token = self.sub_a.payment_token_id
        self.assertNotEqual(token, self.token)
        self.assertEqual(token.provider_id, self.provider)
        self.assertEqual(token.partner_id.commercial_partner_id, self.partner)
        self.assertIn("1111", token.payment_details)

    def test_tour_pay_failed_invoice(self):
        self.sub_a.payment_token_id = self._q2c_token(self.partner, "error", details="0000")
        self.invoice_a._q2c_autopay()
        self.assertEqual(self.invoice_a.q2c_payment_state, "failed")
        self.start_tour(
            f"/my/subscriptions/{self.sub_a.id}",
            "q2c_portal_pay_failed_invoice",
            login="q2c_portal_a",
            timeout=300,
        )
        self.assertIn(self.invoice_a.payment_state, ("paid", "in_payment"))
        self.assertEqual(self.invoice_a.amount_residual, 0.0)
        self.assertEqual(self.invoice_a.q2c_payment_state, "settled")
        self.assertEqual(self.sub_a.q2c_payment_status, "ok")
