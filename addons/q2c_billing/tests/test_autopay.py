from unittest.mock import patch

import requests
from psycopg2 import IntegrityError

from odoo.exceptions import ValidationError
from odoo.tests import new_test_user, tagged
from odoo.tools import mute_logger

from .autopay_common import DEMO_TX, Q2C_TX, Q2cAutopayCommon

MOVE = "odoo.addons.q2c_billing.models.account_move.AccountMove"


@tagged("post_install", "-at_install")
class TestAutopay(Q2cAutopayCommon):
    def _payments(self, invoice):
        return self.env["account.payment"].search(
            [("payment_transaction_id.invoice_ids", "in", invoice.ids)]
        )

    # ------------------------------------------------------------------
    # Success
    # ------------------------------------------------------------------

    def test_posted_invoice_is_charged_and_reconciled(self):
        sub, invoice = self._q2c_billed_invoice()
        self.assertEqual(invoice.amount_total, 110.0)
        self.assertEqual(invoice.q2c_payment_state, "scheduled")
        self.assertTrue(invoice.q2c_autopay_scheduled)
        cron = self.env.ref("q2c_billing.q2c_autopay_cron")
        self.assertTrue(self.env["ir.cron.trigger"].search([("cron_id", "=", cron.id)]))

        self.assertEqual(self.env["account.move"]._cron_q2c_autopay(), 1)

        tx = invoice.q2c_autopay_transaction_ids
        self.assertEqual(len(tx), 1)
        self.assertRecordValues(
            tx,
            [
                {
                    "reference": f"{invoice.name}-AP1",
                    "operation": "offline",
                    "token_id": self.token.id,
                    "amount": 110.0,
                    "currency_id": self.usd.id,
                    "state": "done",
                    "q2c_attempt": 1,
                    "is_post_processed": True,
                }
            ],
        )
        self.assertEqual(tx.invoice_ids, invoice)
        self.assertIn(invoice.payment_state, ("paid", "in_payment"))
        self.assertEqual(invoice.amount_residual, 0.0)
        self.assertEqual(invoice.q2c_payment_state, "charged")
        self.assertFalse(invoice.q2c_autopay_scheduled)
        self.assertEqual(invoice.q2c_payment_attempt_count, 1)
        payment = self._payments(invoice)
        self.assertEqual(len(payment), 1)
        self.assertEqual(payment.amount, 110.0)
        self.assertEqual(payment.payment_token_id, self.token)
        self.assertEqual(sub.q2c_payment_status, "ok")
        # The cron has nothing left to do.
        self.assertEqual(self.env["account.move"]._cron_q2c_autopay(), 0)

    def test_invoice_without_saved_payment_method_is_not_charged(self):
        sub = self._q2c_subscription([(self.plan_platform, 1)])
        invoice = self._invoices(self._run("2026-01-01"))
        self.assertFalse(invoice.q2c_payment_state)
        self.assertFalse(invoice.q2c_autopay_scheduled)
        self.assertFalse(invoice._q2c_autopay())
        self.assertFalse(invoice.q2c_autopay_transaction_ids)
        self.assertEqual(invoice.payment_state, "not_paid")
        self.assertEqual(sub.q2c_payment_status, "ok")

    def test_company_setting_disables_autopay(self):
        self.company.q2c_autopay = False
        __, invoice = self._q2c_billed_invoice()
        self.assertFalse(invoice.q2c_autopay_scheduled)
        self.assertFalse(invoice.q2c_payment_state)

    def test_unusable_tokens_are_not_charged(self):
        other = self.env["res.partner"].create({"name": "Someone else"})
        foreign = self._q2c_token(other, "done", details="1111")
        sub, invoice = self._q2c_billed_invoice(token=foreign)
        self.assertFalse(invoice.q2c_autopay_scheduled)
        self.assertFalse(invoice._q2c_autopay())
        self.assertIn("no valid saved payment method", self._q2c_chatter(invoice))
        # A disabled provider is not asked either.
        sub.payment_token_id = self.token
        self.provider.state = "disabled"
        self.assertFalse(invoice._q2c_autopay())
        self.assertFalse(invoice.q2c_autopay_transaction_ids)

    def test_archived_token_leaves_the_subscription(self):
        sub, invoice = self._q2c_billed_invoice()
        info = self.token.get_linked_records_info()
        self.assertEqual([item["name"] for item in info], [sub.name])
        self.token.active = False
        self.assertFalse(sub.payment_token_id)
        self.assertIn("was removed", self._q2c_chatter(sub))
        self.assertFalse(invoice._q2c_autopay())

    def test_manual_charge_button(self):
        sub = self._q2c_subscription([(self.plan_platform, 1)])
        invoice = self._invoices(self._run("2026-01-01"))
        sub.payment_token_id = self.token
        accountant = new_test_user(
            self.env,
            "q2c_accountant",
            groups="account.group_account_invoice",
            company_id=self.company.id,
        )
        invoice.with_user(accountant).action_q2c_autopay()
        self.assertEqual(invoice.q2c_payment_state, "charged")
        self.assertEqual(invoice.payment_state in ("paid", "in_payment"), True)

    # ------------------------------------------------------------------
    # Refused and pending
    # ------------------------------------------------------------------

    def test_refused_payment_is_recorded_on_invoice_and_subscription(self):
        for state in ("error", "cancel"):
            with self.subTest(state=state):
                token = self._q2c_token(self.partner, state, details=state)
                with patch(
                    f"{MOVE}._q2c_payment_failed", autospec=True, side_effect=lambda move, tx: None
                ) as failed:
                    sub, invoice = self._q2c_billed_invoice(token=token)
                    tx = invoice._q2c_autopay()
                self.assertEqual(tx.state, state)
                self.assertEqual(failed.call_count, 1)
                self.assertEqual(invoice.q2c_payment_state, "failed")
                self.assertEqual(invoice.q2c_payment_attempt_count, 1)
                self.assertTrue(invoice.q2c_payment_error)
                self.assertEqual(invoice.payment_state, "not_paid")
                self.assertEqual(invoice.amount_residual, 110.0)
                self.assertFalse(self._payments(invoice))
                self.assertEqual(sub.q2c_payment_status, "failed")
                self.assertEqual(sub.q2c_payment_issue_move_id, invoice)
                failing = self.env["q2c.subscription"].search(
                    [("q2c_payment_status", "=", "failed")]
                )
                self.assertIn(sub, failing)
                # Hook not mocked: chatter of the invoice and of the subscription.
                invoice._q2c_payment_failed(tx)
                self.assertIn(f"{tx.reference} (attempt 1) failed", self._q2c_chatter(invoice))
                self.assertIn(invoice.name, self._q2c_chatter(sub))
                # A failed invoice can be paid online by the customer.
                self.assertTrue(invoice._has_to_be_paid())

    def test_pending_payment_is_never_charged_twice(self):
        token = self._q2c_token(self.partner, "pending")
        sub, invoice = self._q2c_billed_invoice(token=token)
        tx = invoice._q2c_autopay()
        self.assertEqual(tx.state, "pending")
        self.assertEqual(invoice.q2c_payment_state, "pending")
        self.assertEqual(sub.q2c_payment_status, "pending")
        self.assertFalse(invoice._has_to_be_paid())
        # A retry (dunning, the button) charges nothing while the attempt is pending.
        with patch(f"{DEMO_TX}._send_payment_request", autospec=True) as send:
            again = invoice._q2c_autopay()
        send.assert_not_called()
        self.assertEqual(again, tx)
        self.assertEqual(len(invoice.q2c_autopay_transaction_ids), 1)
        # The provider confirms later (webhook): the invoice is paid.
        self._q2c_notify(tx, "done")
        self.assertEqual(tx.state, "done")
        self.assertEqual(invoice.q2c_payment_state, "charged")
        self.assertIn(invoice.payment_state, ("paid", "in_payment"))
        self.assertEqual(sub.q2c_payment_status, "ok")

    # ------------------------------------------------------------------
    # Replays and out-of-order notifications
    # ------------------------------------------------------------------

    @mute_logger("odoo.addons.payment.models.payment_transaction")
    def test_replayed_notifications_create_no_second_payment(self):
        __, invoice = self._q2c_billed_invoice()
        tx = invoice._q2c_autopay()
        self.assertEqual(tx.state, "done")
        payment = tx.payment_id
        self.assertTrue(payment)
        messages = len(invoice.message_ids)
        for state in ("done", "done", "pending", "error", "cancel", "done"):
            self._q2c_notify(tx, state)
        self.assertEqual(tx.state, "done")
        self.assertEqual(tx.payment_id, payment)
        self.assertEqual(len(self._payments(invoice)), 1)
        self.assertEqual(invoice.q2c_payment_state, "charged")
        self.assertEqual(invoice.amount_residual, 0.0)
        self.assertEqual(len(invoice.message_ids), messages)

    @mute_logger("odoo.addons.payment.models.payment_transaction")
    def test_replayed_failure_calls_the_hook_once(self):
        token = self._q2c_token(self.partner, "error")
        __, invoice = self._q2c_billed_invoice(token=token)
        with patch(f"{MOVE}._q2c_payment_failed", autospec=True) as failed:
            tx = invoice._q2c_autopay()
            for __ in range(3):
                self._q2c_notify(tx, "error")
            tx._post_process()
        self.assertEqual(failed.call_count, 1)
        self.assertEqual(invoice.q2c_payment_state, "failed")

    def test_late_success_after_error_is_recorded(self):
        # "done" after "error" is a legal transition: the money was taken after all.
        token = self._q2c_token(self.partner, "error")
        __, invoice = self._q2c_billed_invoice(token=token)
        tx = invoice._q2c_autopay()
        self.assertEqual(invoice.q2c_payment_state, "failed")
        self._q2c_notify(tx, "done")
        self.assertEqual(invoice.q2c_payment_state, "charged")
        self.assertEqual(invoice.amount_residual, 0.0)
        self.assertEqual(len(self._payments(invoice)), 1)

    def test_same_attempt_number_is_not_charged_again(self):
        token = self._q2c_token(self.partner, "error")
        sub, invoice = self._q2c_billed_invoice(token=token)
        first = invoice._q2c_autopay(attempt=1)
        with patch(f"{DEMO_TX}._send_payment_request", autospec=True) as send:
            replay = invoice._q2c_autopay(attempt=1)
        send.assert_not_called()
        self.assertEqual(replay, first)
        # Retry with a new payment method: attempt 2, paid.
        sub.payment_token_id = self.token
        second = invoice._q2c_autopay(attempt=2)
        self.assertEqual(second.reference, f"{invoice.name}-AP2")
        self.assertEqual(second.state, "done")
        self.assertEqual(invoice.q2c_payment_attempt_count, 2)
        self.assertEqual(invoice.q2c_payment_state, "charged")
        self.assertEqual(sub.q2c_payment_status, "ok")
        # Paid: a further call charges nothing.
        self.assertEqual(invoice._q2c_autopay(), second)
        self.assertEqual(len(invoice.q2c_autopay_transaction_ids), 2)
        with self.assertRaises(ValidationError):
            invoice._q2c_autopay(attempt=0)

    def test_database_refuses_a_duplicate_attempt(self):
        __, invoice = self._q2c_billed_invoice()
        tx = invoice._q2c_autopay()
        vals = invoice._q2c_prepare_autopay_transaction_vals(self.token, 1)
        vals["reference"] = "another-reference"
        with mute_logger("odoo.sql_db"), self.assertRaises(IntegrityError), self.cr.savepoint():
            self.env["payment.transaction"].sudo().create(vals)
        self.assertEqual(invoice.q2c_autopay_transaction_ids, tx)

    # ------------------------------------------------------------------
    # Timeouts: unknown outcome, resolved by asking, never charged blind
    # ------------------------------------------------------------------

    @mute_logger("odoo.addons.q2c_billing.models.account_move")
    def test_timed_out_attempt_is_asked_not_charged_again(self):
        sub, invoice = self._q2c_billed_invoice()
        timeout = requests.exceptions.Timeout("read timeout")
        with self._q2c_provider_answer(exception=timeout) as send:
            tx = invoice._q2c_autopay()
        self.assertEqual(send.call_count, 1)
        self.assertEqual(tx.state, "draft")
        self.assertTrue(tx.q2c_was_unknown)
        self.assertEqual(invoice.q2c_payment_state, "unknown")
        self.assertIn("read timeout", invoice.q2c_payment_error)
        self.assertEqual(sub.q2c_payment_status, "unknown")
        self.assertFalse(invoice._has_to_be_paid())
        self.assertIn("the outcome is unknown", self._q2c_chatter(invoice))

        # A retry asks the provider first; no answer: nothing is charged.
        with (
            patch(f"{Q2C_TX}._q2c_query_provider_state", autospec=True, return_value={}) as ask,
            patch(f"{DEMO_TX}._send_payment_request", autospec=True) as send,
        ):
            again = invoice._q2c_autopay()
        self.assertEqual(ask.call_count, 1)
        send.assert_not_called()
        self.assertEqual(again, tx)
        self.assertEqual(invoice.q2c_payment_state, "unknown")

        # The provider says it was charged: recorded, reconciled, still one attempt.
        with (
            patch(
                f"{Q2C_TX}._q2c_query_provider_state",
                autospec=True,
                side_effect=lambda t: {"reference": t.reference, "simulated_state": "done"},
            ),
            patch(f"{DEMO_TX}._send_payment_request", autospec=True) as send,
        ):
            resolved = invoice._q2c_autopay()
        send.assert_not_called()
        self.assertEqual(resolved, tx)
        self.assertEqual(tx.state, "done")
        self.assertEqual(invoice.q2c_payment_state, "charged")
        self.assertEqual(len(invoice.q2c_autopay_transaction_ids), 1)
        self.assertEqual(len(self._payments(invoice)), 1)
        self.assertIn(invoice.payment_state, ("paid", "in_payment"))
        self.assertIn("received", self._q2c_chatter(sub))

    @mute_logger("odoo.addons.q2c_billing.models.account_move")
    def test_timed_out_attempt_found_failed_is_retried(self):
        __, invoice = self._q2c_billed_invoice()
        with self._q2c_provider_answer(exception=requests.exceptions.ConnectionError("reset")):
            first = invoice._q2c_autopay()
        self.assertEqual(invoice.q2c_payment_state, "unknown")
        # The check button asks the provider: it never got the request.
        with patch(
            f"{Q2C_TX}._q2c_query_provider_state",
            autospec=True,
            side_effect=lambda t: {"reference": t.reference, "simulated_state": "error"},
        ):
            invoice.action_q2c_resolve_payment()
        self.assertEqual(first.state, "error")
        self.assertEqual(invoice.q2c_payment_state, "failed")
        # Now known: the next attempt may charge.
        second = invoice._q2c_autopay()
        self.assertEqual(second.q2c_attempt, 2)
        self.assertEqual(invoice.q2c_payment_state, "charged")

    # ------------------------------------------------------------------
    # Decline codes
    # ------------------------------------------------------------------

    def test_hard_and_soft_declines(self):
        cases = [
            ("stolen_card", True),
            ("lost_card", True),
            ("account_closed", True),
            ("invalid_account", True),
            ("insufficient_funds", False),
            ("do_not_honor", False),
        ]
        for code, hard in cases:
            with self.subTest(code=code):
                __, invoice = self._q2c_billed_invoice()
                with self._q2c_provider_answer({"simulated_state": "error", "decline_code": code}):
                    tx = invoice._q2c_autopay()
                self.assertEqual(tx.q2c_decline_code, code)
                self.assertEqual(tx.q2c_is_hard_decline, hard)
                self.assertEqual(invoice.q2c_payment_hard_decline, hard)
                self.assertEqual(invoice.q2c_payment_state, "failed")
                self.assertIn(code, invoice.q2c_payment_error)
                self.assertEqual("Hard decline" in self._q2c_chatter(invoice), hard)

    def test_decline_code_under_error_key_and_custom_list(self):
        self.env["ir.config_parameter"].sudo().set_param(
            "q2c_billing.hard_decline_codes", "insufficient_funds, expired_card"
        )
        __, invoice = self._q2c_billed_invoice()
        with self._q2c_provider_answer(
            {
                "simulated_state": "cancel",
                "error": {"decline_code": "insufficient_funds"},
            }
        ):
            tx = invoice._q2c_autopay()
        self.assertEqual(tx.q2c_decline_code, "insufficient_funds")
        self.assertTrue(tx.q2c_is_hard_decline)
