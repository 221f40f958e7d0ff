import json

from odoo import Command
from odoo.tests import HttpCase, tagged

from .common import Q2cCpqCommon

# A 1x1 transparent PNG, enough for a signature.
SIGNATURE = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="
)


@tagged("post_install", "-at_install")
class TestQ2cPortalSigning(Q2cCpqCommon, HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env["q2c.config.rule"].search([]).active = False
        cls.env["q2c.approval.rule"].search([]).active = False
        cls.env["q2c.approval.rule"].create(
            {
                "name": "Deal desk",
                "max_discount": 10.0,
            }
        )

    def _portal_quote(self, lines):
        order = self._create_order(lines, require_signature=True, require_payment=False)
        order._portal_ensure_token()
        return order

    def _sign(self, order):
        payload = {
            "id": 0,
            "jsonrpc": "2.0",
            "method": "call",
            "params": {
                "access_token": order.access_token,
                "name": "Carla Customer",
                "signature": SIGNATURE,
            },
        }
        # A generous timeout: signing confirms the order and renders its document.
        response = self.url_open(
            f"/my/orders/{order.id}/accept",
            data=json.dumps(payload).encode(),
            headers={"Content-Type": "application/json"},
            timeout=120,
        )
        response.raise_for_status()
        return response.json()["result"]

    def test_pending_approval_cannot_be_signed(self):
        order = self._portal_quote([(self.platform, 1, {"discount": 20.0})])
        self.assertEqual(order.q2c_approval_state, "pending")
        self.assertFalse(order._has_to_be_signed())
        result = self._sign(order)
        self.assertIn("awaiting internal approval", result["error"])
        self.assertFalse(order.signature)
        self.assertEqual(order.state, "draft")

    def test_approved_quote_is_signed_and_confirmed(self):
        order = self._portal_quote([(self.platform, 1, {"discount": 20.0})])
        order.action_q2c_request_approval()
        order.action_q2c_approve()
        self.assertEqual(order.q2c_approval_state, "approved")
        self.assertTrue(order._has_to_be_signed())
        result = self._sign(order)
        self.assertNotIn("error", result)
        self.assertEqual(order.state, "sale")
        self.assertEqual(order.signed_by, "Carla Customer")

    def test_signing_creates_the_subscription(self):
        seat = self._create_product("Portal Seat", 1.0)
        self._create_plan(seat, "per_unit", unit_price=10.0)
        order = self._portal_quote([(seat, 5)])
        self.assertEqual(order.q2c_approval_state, "not_required")
        result = self._sign(order)
        self.assertNotIn("error", result)
        self.assertEqual(order.state, "sale")
        sub = order.q2c_subscription_id
        self.assertEqual(sub.state, "active")
        self.assertEqual(sub.partner_id, self.partner)
        self.assertEqual(sub.line_ids.quantity, 5.0)

    def test_configuration_error_blocks_signing(self):
        self.env["q2c.config.rule"].create(
            {
                "name": "Users need the platform",
                "rule_type": "requires",
                "product_ids": [Command.set(self.users.ids)],
                "target_product_ids": [Command.set(self.platform.ids)],
                "message": "User licences need the platform.",
            }
        )
        order = self._portal_quote([(self.users, 5)])
        self.assertFalse(order._has_to_be_signed())
        result = self._sign(order)
        self.assertIn("User licences need the platform.", result["error"])
        self.assertFalse(order.signature)
        self.assertEqual(order.state, "draft")

    def test_portal_page_shows_no_sign_button_while_pending(self):
        order = self._portal_quote([(self.platform, 1, {"discount": 20.0})])
        response = self.url_open(order.get_portal_url())
        self.assertEqual(response.status_code, 200)
        self.assertIn("awaiting approval by our team", response.text)
        self.assertNotIn('data-bs-target="#modalaccept"', response.text)

    def test_portal_page_shows_the_ramp(self):
        seat = self._create_product("Ramp Seat", 1.0)
        self._create_plan(seat, "per_unit", unit_price=10.0)
        order = self._portal_quote([(seat, 10)])
        order.q2c_term_months = 24
        order.order_line.q2c_ramp_step_ids = [
            Command.create({"sequence": 1, "months": 12, "quantity": 10}),
            Command.create({"sequence": 2, "months": 12, "quantity": 20, "discount": 5.0}),
        ]
        start = order._q2c_ramp_start()
        response = self.url_open(order.get_portal_url())
        self.assertEqual(response.status_code, 200)
        self.assertIn("o_q2c_ramp_table", response.text)
        # Year 2: 20 x 10.00 - 5% = 190.00 a month, 9.50 a seat.
        self.assertIn("$\xa0190.00", response.text)
        self.assertIn("$\xa09.50", response.text)
        self.assertIn(str(start.replace(year=start.year + 1)), response.text)
