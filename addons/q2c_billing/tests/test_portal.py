from odoo import Command
from odoo.http import Request
from odoo.tests import JsonRpcException, tagged
from odoo.tools import mute_logger

from .portal_common import Q2cPortalCommon


@tagged("post_install", "-at_install")
class TestSubscriptionPortal(Q2cPortalCommon):
    def _post(self, url, data=None, csrf=True):
        data = dict(data or {})
        if csrf:
            data["csrf_token"] = Request.csrf_token(self)
        return self.opener.post(self.base_url() + url, data=data, allow_redirects=False, timeout=30)

    # ------------------------------------------------------------------
    # Who sees what
    # ------------------------------------------------------------------

    def test_home_counter_and_list_show_own_subscriptions_only(self):
        self.authenticate("q2c_portal_a", "q2c_portal_a")
        counters = self.make_jsonrpc_request(
            "/my/counters", {"counters": ["q2c_subscription_count"]}
        )
        self.assertEqual(counters["q2c_subscription_count"], 1)
        home = self.url_open("/my/home")
        self.assertIn("Your Subscriptions", home.text)
        page = self.url_open("/my/subscriptions")
        self.assertEqual(page.status_code, 200)
        self.assertIn(self.sub_a.name, page.text)
        self.assertNotIn(self.sub_b.name, page.text)

    def test_detail_shows_lines_next_invoice_payment_method_and_invoices(self):
        self.authenticate("q2c_portal_a", "q2c_portal_a")
        page = self.url_open(self._q2c_sub_url(self.sub_a))
        self.assertEqual(page.status_code, 200)
        preview = self.sub_a.preview_invoice(self.sub_a.next_invoice_date)
        for text in (
            self.sub_a.name,
            self.seat_line_a.name,
            self.token.display_name,
            self.invoice_a.name,
            f"{preview['total']:,.2f}",
            "Replace payment method",
            "Close subscription",
            "o_q2c_change_btn",
        ):
            self.assertIn(text, page.text)
        self.assertNotIn(self.sub_b.name, page.text)
        self.assertNotIn(self.invoice_b.name, page.text)

    def test_other_customer_gets_404_without_data(self):
        self.authenticate("q2c_portal_a", "q2c_portal_a")
        for suffix in ("", "/payment_method"):
            with self.subTest(suffix=suffix), mute_logger("odoo.http"):
                response = self.url_open(self._q2c_sub_url(self.sub_b, suffix))
                self.assertEqual(response.status_code, 404)
                self.assertNotIn(self.sub_b.name, response.text)
                self.assertNotIn(self.token_b.display_name, response.text)
        # Someone else's access token does not open another subscription.
        token_b = self.sub_b._portal_ensure_token()
        with mute_logger("odoo.http"):
            response = self.url_open(self._q2c_sub_url(self.sub_b, token="wrong-token"))
        self.assertEqual(response.status_code, 404)
        token_a = self.sub_a._portal_ensure_token()
        with mute_logger("odoo.http"):
            response = self.url_open(self._q2c_sub_url(self.sub_b, token=token_a))
        self.assertEqual(response.status_code, 404)
        self.assertNotIn(self.sub_b.name, response.text)
        # Actions on another customer's subscription: 404, nothing changes.
        with mute_logger("odoo.http"):
            response = self._post(self._q2c_sub_url(self.sub_b, "/pause"))
        self.assertEqual(response.status_code, 404)
        self.assertEqual(self.sub_b.state, "active")
        with self.assertRaises(JsonRpcException), mute_logger("odoo.http"):
            self.make_jsonrpc_request(
                f"/my/subscriptions/{self.sub_b.id}/change/preview.json",
                {"line_id": self.sub_b.line_ids.id, "quantity": 3},
            )
        self.assertTrue(token_b)

    def test_access_token_opens_the_subscription_without_login(self):
        token = self.sub_a._portal_ensure_token()
        page = self.url_open(self._q2c_sub_url(self.sub_a, token=token))
        self.assertEqual(page.status_code, 200)
        self.assertIn(self.sub_a.name, page.text)
        with mute_logger("odoo.http"):
            response = self.url_open(self._q2c_sub_url(self.sub_a))
        self.assertEqual(response.status_code, 404)
        # The list needs a login.
        response = self.url_open("/my/subscriptions", allow_redirects=False)
        self.assertIn(response.status_code, (302, 303))

    def test_draft_subscriptions_are_not_shown(self):
        draft = self._q2c_subscription([(self.plan_seat, 1)], activate=False)
        self.authenticate("q2c_portal_a", "q2c_portal_a")
        self.assertNotIn(draft.name, self.url_open("/my/subscriptions").text)
        with mute_logger("odoo.http"):
            self.assertEqual(self.url_open(self._q2c_sub_url(draft)).status_code, 404)

    # ------------------------------------------------------------------
    # CSRF and allowed actions
    # ------------------------------------------------------------------

    def test_post_without_csrf_token_is_refused(self):
        self.authenticate("q2c_portal_a", "q2c_portal_a")
        for suffix, data in (
            ("/pause", {}),
            ("/close", {"close_reason_id": self.reason_price.id}),
            ("/change/confirm", {"line_id": self.seat_line_a.id, "quantity": 9}),
        ):
            with self.subTest(suffix=suffix), mute_logger("odoo.http"):
                response = self._post(self._q2c_sub_url(self.sub_a, suffix), data, csrf=False)
                self.assertEqual(response.status_code, 400)
        self.assertEqual(self.sub_a.state, "active")
        self.assertEqual(self.seat_line_a.quantity, 5)

    def test_actions_only_where_allowed(self):
        self.company.q2c_portal_pause = False
        self.authenticate("q2c_portal_a", "q2c_portal_a")
        page = self.url_open(self._q2c_sub_url(self.sub_a))
        self.assertNotIn("o_q2c_pause", page.text)
        with mute_logger("odoo.http"):
            response = self._post(self._q2c_sub_url(self.sub_a, "/pause"))
        self.assertEqual(response.status_code, 403)
        self.assertEqual(self.sub_a.state, "active")
        # Self-service off on the subscription: read-only.
        self.sub_a.q2c_portal_self_service = False
        page = self.url_open(self._q2c_sub_url(self.sub_a))
        self.assertEqual(page.status_code, 200)
        for marker in ("o_q2c_change_btn", "o_q2c_close", "o_q2c_replace_payment_method"):
            self.assertNotIn(marker, page.text)
        for suffix, data in (
            ("/change/preview", {"line_id": self.seat_line_a.id, "quantity": 9}),
            ("/change/confirm", {"line_id": self.seat_line_a.id, "quantity": 9}),
            ("/close", {"close_reason_id": self.reason_price.id}),
        ):
            with self.subTest(suffix=suffix), mute_logger("odoo.http"):
                response = self._post(self._q2c_sub_url(self.sub_a, suffix), data)
                self.assertEqual(response.status_code, 403)
        with mute_logger("odoo.http"):
            self.assertEqual(
                self.url_open(self._q2c_sub_url(self.sub_a, "/payment_method")).status_code, 403
            )
        self.assertEqual(self.seat_line_a.quantity, 5)
        self.assertEqual(self.sub_a.state, "active")

    # ------------------------------------------------------------------
    # Change quantity or plan
    # ------------------------------------------------------------------

    def test_change_quantity_shows_the_preview_then_applies(self):
        self.authenticate("q2c_portal_a", "q2c_portal_a")
        expected = self.sub_a.preview_change(
            [{"line_id": self.seat_line_a.id, "quantity": 8}], self.today
        )
        live = self.make_jsonrpc_request(
            f"/my/subscriptions/{self.sub_a.id}/change/preview.json",
            {"line_id": self.seat_line_a.id, "quantity": "8"},
        )
        self.assertEqual(live["preview"], expected)
        response = self._post(
            self._q2c_sub_url(self.sub_a, "/change/preview"),
            {"line_id": self.seat_line_a.id, "quantity": "8"},
        )
        self.assertEqual(response.status_code, 200)
        self.assertIn("Review your change", response.text)
        self.assertIn(f"{expected['new_recurring_total']:,.2f}", response.text)
        self.assertIn(f"{expected['net']:,.2f}", response.text)
        # Nothing is applied by the preview.
        self.assertEqual(self.seat_line_a.quantity, 5)
        response = self._post(
            self._q2c_sub_url(self.sub_a, "/change/confirm"),
            {"line_id": self.seat_line_a.id, "quantity": "8", "price_plan_id": ""},
        )
        self.assertEqual(response.status_code, 303)
        self.assertIn("message=changed", response.headers["Location"])
        self.assertEqual(self.seat_line_a.quantity, 8)
        self.assertEqual(self.sub_a.recurring_total, expected["new_recurring_total"])
        self.assertTrue(self.sub_a.change_ids)
        log = self.sub_a.message_ids.filtered(lambda m: "in the portal" in m.body)
        self.assertEqual(log.author_id, self.contact_a)

    def test_change_plan(self):
        options = self.sub_a._q2c_portal_plan_options(self.seat_line_a)
        self.assertIn(self.plan_seat_20, options)
        self.assertNotIn(self.plan_seat_eur, options)
        self.assertNotIn(self.plan_platform, options)
        self.authenticate("q2c_portal_a", "q2c_portal_a")
        response = self._post(
            self._q2c_sub_url(self.sub_a, "/change/preview"),
            {
                "line_id": self.seat_line_a.id,
                "quantity": "5",
                "price_plan_id": self.plan_seat_20.id,
            },
        )
        self.assertEqual(response.status_code, 200)
        self.assertIn(self.plan_seat_20.name, response.text)
        self._post(
            self._q2c_sub_url(self.sub_a, "/change/confirm"),
            {"line_id": self.seat_line_a.id, "quantity": "", "price_plan_id": self.plan_seat_20.id},
        )
        self.assertEqual(self.seat_line_a.price_plan_id, self.plan_seat_20)
        self.assertEqual(self.seat_line_a.quantity, 5)

    def test_bad_change_input_is_refused_with_a_message(self):
        self.authenticate("q2c_portal_a", "q2c_portal_a")
        platform_line = self.sub_a.line_ids - self.seat_line_a
        for data in (
            {"line_id": self.seat_line_a.id, "quantity": "0"},
            {"line_id": self.seat_line_a.id, "quantity": "abc"},
            {"line_id": self.seat_line_a.id, "quantity": "2.5"},
            {"line_id": self.sub_b.line_ids.id, "quantity": "3"},
            {"line_id": platform_line.id, "quantity": "3"},
            {"line_id": self.seat_line_a.id, "price_plan_id": self.plan_platform.id},
        ):
            with self.subTest(data=data):
                response = self._post(self._q2c_sub_url(self.sub_a, "/change/confirm"), data)
                self.assertEqual(response.status_code, 303)
                self.assertIn("error=", response.headers["Location"])
        self.assertEqual(self.seat_line_a.quantity, 5)
        self.assertEqual(self.seat_line_a.price_plan_id, self.plan_seat)
        self.assertEqual(self.sub_b.line_ids.quantity, 2)

    # ------------------------------------------------------------------
    # Pause, resume, close
    # ------------------------------------------------------------------

    def test_pause_resume_and_close_at_period_end(self):
        self.authenticate("q2c_portal_a", "q2c_portal_a")
        response = self._post(self._q2c_sub_url(self.sub_a, "/pause"))
        self.assertIn("message=paused", response.headers["Location"])
        self.assertEqual(self.sub_a.state, "paused")
        self.assertEqual(self.sub_a.paused_date, self.today)
        response = self._post(self._q2c_sub_url(self.sub_a, "/resume"))
        self.assertEqual(self.sub_a.state, "active")
        # Close: a reason is required.
        response = self._post(self._q2c_sub_url(self.sub_a, "/close"), {"close_reason_id": ""})
        self.assertIn("error=", response.headers["Location"])
        self.assertEqual(self.sub_a.state, "active")
        period_end = self.sub_a.current_period_end
        response = self._post(
            self._q2c_sub_url(self.sub_a, "/close"),
            {"close_reason_id": self.reason_price.id, "close_comment": "Too expensive for us"},
        )
        self.assertIn("message=closed", response.headers["Location"])
        self.assertEqual(self.sub_a.state, "closed")
        self.assertEqual(self.sub_a.closed_date, period_end)
        self.assertEqual(self.sub_a.close_reason_id, self.reason_price)
        self.assertIn("Too expensive for us", self._q2c_chatter(self.sub_a))
        # Closed: no more actions.
        with mute_logger("odoo.http"):
            response = self._post(self._q2c_sub_url(self.sub_a, "/pause"))
        self.assertEqual(response.status_code, 403)

    # ------------------------------------------------------------------
    # Payment method
    # ------------------------------------------------------------------

    def test_payment_method_page_and_assign_saved_token(self):
        other_token_a = self._q2c_token(self.contact_a, "done", details="5555")
        self.authenticate("q2c_portal_a", "q2c_portal_a")
        page = self.url_open(self._q2c_sub_url(self.sub_a, "/payment_method"))
        self.assertEqual(page.status_code, 200)
        self.assertIn("o_payment_form", page.text)
        self.assertIn(f"/my/subscriptions/{self.sub_a.id}/assign_token", page.text)
        self.assertIn(other_token_a.display_name, page.text)
        self.assertNotIn(self.token_b.display_name, page.text)
        access_token = self.sub_a._portal_ensure_token()
        self.make_jsonrpc_request(
            f"/my/subscriptions/{self.sub_a.id}/assign_token",
            {"token_id": other_token_a.id, "access_token": access_token},
        )
        self.assertEqual(self.sub_a.payment_token_id, other_token_a)
        self.assertIn("Payment method replaced", self._q2c_chatter(self.sub_a))
        # Another customer's token is refused.
        with self.assertRaises(JsonRpcException), mute_logger("odoo.http"):
            self.make_jsonrpc_request(
                f"/my/subscriptions/{self.sub_a.id}/assign_token",
                {"token_id": self.token_b.id, "access_token": access_token},
            )
        self.assertEqual(self.sub_a.payment_token_id, other_token_a)

    def test_new_payment_method_is_tokenized_by_the_provider(self):
        self.authenticate("q2c_portal_a", "q2c_portal_a")
        access_token = self.sub_a._portal_ensure_token()
        processing = self.make_jsonrpc_request(
            f"/my/subscriptions/{self.sub_a.id}/transaction",
            {
                "provider_id": self.provider.id,
                "payment_method_id": self.env.ref("payment_demo.payment_method_demo").id,
                "token_id": None,
                "amount": None,
                "flow": "direct",
                "tokenization_requested": True,
                "landing_route": self._q2c_sub_url(self.sub_a),
                "is_validation": True,
                "access_token": access_token,
            },
        )
        tx = self.env["payment.transaction"].search([("reference", "=", processing["reference"])])
        self.assertEqual(tx.operation, "validation")
        self.assertEqual(tx.q2c_subscription_id, self.sub_a)
        self.assertTrue(tx.tokenize)
        self.assertEqual(tx.partner_id, self.contact_a)
        # The provider's form posts the card details to the provider (demo: simulated).
        self.make_jsonrpc_request(
            "/payment/demo/simulate_payment",
            {
                "reference": tx.reference,
                "payment_details": "4111",
                "simulated_state": "done",
            },
        )
        self.assertTrue(tx.token_id)
        tx._post_process()
        self.assertEqual(self.sub_a.payment_token_id, tx.token_id)
        self.assertNotEqual(self.sub_a.payment_token_id, self.token)
        # Tampering: a token flow through this route is refused.
        with self.assertRaises(JsonRpcException), mute_logger("odoo.http"):
            self.make_jsonrpc_request(
                f"/my/subscriptions/{self.sub_a.id}/transaction",
                {
                    "provider_id": self.provider.id,
                    "payment_method_id": None,
                    "token_id": self.token.id,
                    "amount": None,
                    "flow": "token",
                    "tokenization_requested": False,
                    "landing_route": "/",
                    "is_validation": True,
                    "access_token": access_token,
                },
            )

    # ------------------------------------------------------------------
    # Invoices
    # ------------------------------------------------------------------

    def test_failed_invoice_banner_and_online_payment(self):
        self.sub_a.payment_token_id = self._q2c_token(self.partner, "error", details="0000")
        self.invoice_a._q2c_autopay()
        self.assertEqual(self.invoice_a.q2c_payment_state, "failed")
        self.authenticate("q2c_portal_a", "q2c_portal_a")
        page = self.url_open(self._q2c_sub_url(self.sub_a))
        self.assertIn("Your payment failed", page.text)
        self.assertIn("o_q2c_pay_failed_invoice", page.text)
        # Odoo's invoice portal page offers the payment.
        invoice_page = self.url_open(self.invoice_a.get_portal_url())
        self.assertEqual(invoice_page.status_code, 200)
        self.assertIn("o_payment_form", invoice_page.text)
        # Pending: no online payment offered (it may be paid already).
        self.sub_a.payment_token_id = self._q2c_token(self.partner, "pending", details="7777")
        self.invoice_a._q2c_autopay()
        self.assertEqual(self.invoice_a.q2c_payment_state, "pending")
        self.assertFalse(self.invoice_a._has_to_be_paid())
        page = self.url_open(self._q2c_sub_url(self.sub_a))
        self.assertNotIn("o_q2c_pay_failed_invoice", page.text)
        self.assertIn("being processed", page.text)

    # ------------------------------------------------------------------
    # Quotes
    # ------------------------------------------------------------------

    def test_signing_and_paying_a_subscription_quote_keeps_working(self):
        order = self.env["sale.order"].create(
            {
                "partner_id": self.partner.id,
                "company_id": self.company.id,
                "require_signature": True,
                "require_payment": True,
                "prepayment_percent": 1.0,
                "order_line": [
                    Command.create(
                        {
                            "product_id": self.product_seat.id,
                            "product_uom_qty": 3,
                            "price_unit": 10.0,
                        }
                    )
                ],
            }
        )
        order.action_quotation_sent()
        # The subscription the quote creates once confirmed (q2c_cpq), without a card yet.
        sub = self._q2c_subscription([(self.plan_seat, 3)], activate=False, sale_order_id=order.id)
        self.authenticate("q2c_portal_a", "q2c_portal_a")
        access_token = order._portal_ensure_token()
        page = self.url_open(f"/my/orders/{order.id}?access_token={access_token}")
        self.assertEqual(page.status_code, 200)
        self.assertIn('data-bs-target="#modalaccept"', page.text)
        signed = self.make_jsonrpc_request(
            f"/my/orders/{order.id}/accept",
            {
                "access_token": access_token,
                "name": "Alice Buyer",
                "signature": "R0lGODlhAQABAIAAAAUEBAAAACwAAAAAAQABAAACAkQBADs=",
            },
        )
        self.assertNotIn("error", signed)
        self.assertTrue(order.signature)
        processing = self.make_jsonrpc_request(
            f"/my/orders/{order.id}/transaction",
            {
                "provider_id": self.provider.id,
                "payment_method_id": self.env.ref("payment_demo.payment_method_demo").id,
                "token_id": None,
                "amount": order.amount_total,
                "flow": "direct",
                "tokenization_requested": True,
                "landing_route": order.get_portal_url(),
                "access_token": access_token,
            },
        )
        self.make_jsonrpc_request(
            "/payment/demo/simulate_payment",
            {
                "reference": processing["reference"],
                "payment_details": "4000",
                "simulated_state": "done",
            },
        )
        tx = self.env["payment.transaction"].search([("reference", "=", processing["reference"])])
        tx._post_process()
        self.assertEqual(order.state, "sale")
        # The card saved while paying the quote becomes the subscription's payment method.
        self.assertTrue(tx.token_id)
        self.assertEqual(sub.payment_token_id, tx.token_id)
