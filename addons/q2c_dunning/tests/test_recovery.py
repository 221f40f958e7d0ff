from freezegun import freeze_time

from odoo import Command
from odoo.tests import tagged

from .common import DAY0, Q2cDunningCommon

NOTHING = {"retried": 0, "reminded": 0, "suspended": 0, "cancelled": 0, "recovered": 0}


@tagged("post_install", "-at_install")
class TestDunningRecovery(Q2cDunningCommon):
    def _suspended_case(self):
        """A failed invoice walked to its suspension (day 21)."""
        sub, invoice, token = self._dun_failed_invoice()
        for n in (1, 3, 5, 7, 14, 21):
            self._dun_run(self._day(n))
        self.assertEqual(sub.state, "paused")
        self.assertTrue(sub.q2c_dunning_suspended)
        return sub, invoice, token, self._dun_case(invoice)

    def assertRecovered(self, case, channel, day, step=None):
        self.assertRecordValues(
            case,
            [
                {
                    "state": "recovered",
                    "stage": "closed",
                    "recovery_channel": channel,
                    "recovered_date": day,
                    "recovered_amount": 100.0,
                    "recovered_amount_company": 100.0,
                    "next_action_date": False,
                }
            ],
        )
        if step:
            self.assertEqual(case.recovery_step_id, self.env.ref(step))
        self.assertFalse(case.invoice_id.q2c_dunning_case_id)
        self.assertEqual(case.invoice_id.q2c_collectibility, "collectible")
        self.assertIn("recover", case.log_ids.mapped("action"))

    def test_recovery_by_retry(self):
        """The card works again: the day-1 retry charges it, the case ends recovered and the
        reminder due the same day is not sent."""
        sub, invoice, token = self._dun_failed_invoice()
        token.demo_simulated_state = "done"
        result = self._dun_run(self._day(1))
        self.assertEqual(result, {**NOTHING, "retried": 1, "recovered": 1})
        case = self._dun_case(invoice)
        self.assertRecovered(case, "retry", self._day(1))
        self.assertIn(invoice.payment_state, ("paid", "in_payment"))
        self.assertFalse(self._dun_mails(invoice))
        self.assertEqual(
            self._dun_results(case), [("retry_payment", "done"), ("send_reminder", "skipped")]
        )
        self.assertEqual(sub.state, "active")
        # Nothing left to do for this invoice.
        self.assertEqual(self._dun_run(self._day(3)), NOTHING)

    def test_recovery_by_manual_payment_at_reminder_step(self):
        sub, invoice, __ = self._dun_failed_invoice()
        self._dun_run(self._day(7))
        case = self._dun_case(invoice)
        self._dun_pay_manually(invoice, self._day(9))
        # Recovered the moment the payment is registered, not at the next run.
        self.assertRecovered(
            case, "manual", self._day(9), "q2c_dunning.dunning_step_default_send_reminder_7"
        )
        self.assertEqual(self._dun_run(self._day(14)), NOTHING)
        self.assertEqual(len(self._dun_mails(invoice)), 1)

    def test_recovery_in_portal_resumes_suspended_subscription(self):
        sub, invoice, __, case = self._suspended_case()
        self.assertEqual(invoice.q2c_collectibility, "doubtful")
        self._dun_pay_in_portal(invoice, self._day(23))
        self.assertRecovered(
            case, "portal", self._day(23), "q2c_dunning.dunning_step_default_suspend_21"
        )
        self.assertEqual(sub.state, "active")
        self.assertFalse(sub.q2c_dunning_suspended)
        self.assertEqual(sub.resumed_date, self._day(23))
        self.assertIn("resume_subscription", case.log_ids.mapped("action"))
        self.assertEqual(self._dun_run(self._day(30)), NOTHING)
        self.assertEqual(sub.state, "active")

    def test_recovery_by_retry_after_new_payment_method_on_suspended_subscription(self):
        """Suspended; the customer gives a working card; the run charges it at once (a new
        payment method is retried even between retry days) and resumes the subscription."""
        sub, invoice, __, case = self._suspended_case()
        case.hard_decline = True  # the case asked for a new payment method
        new_token = self._dun_token(self.customer, "done", details="5555")
        with freeze_time(self._day(22)):
            sub.payment_token_id = new_token
        self.assertEqual(case.next_action_date, self._day(22))
        result = self._dun_run(self._day(22))
        self.assertEqual(result, {**NOTHING, "retried": 1, "recovered": 1})
        self.assertRecovered(case, "retry", self._day(22))
        self.assertEqual(sub.state, "active")
        self.assertFalse(sub.q2c_dunning_suspended)

    def test_recovery_detected_by_run(self):
        """A payment the hook did not see (e.g. reconciled while dunning was not installed)
        is found by the next run."""
        __, invoice, __ = self._dun_failed_invoice()
        case = self._dun_case(invoice)
        Move = type(self.env["account.move"])
        original = Move._invoice_paid_hook
        Move._invoice_paid_hook = lambda self: None
        try:
            self._dun_pay_manually(invoice, self._day(2))
        finally:
            Move._invoice_paid_hook = original
        self.assertEqual(case.state, "open")
        result = self._dun_run(self._day(3))
        self.assertEqual(result, {**NOTHING, "recovered": 1})
        self.assertRecovered(case, "manual", self._day(3))

    def test_partial_payment_keeps_case_open(self):
        __, invoice, __ = self._dun_failed_invoice()
        case = self._dun_case(invoice)
        with freeze_time(self._day(2)):
            self.env["account.payment.register"].with_context(
                active_model="account.move", active_ids=invoice.ids
            ).create({"amount": 40.0, "payment_date": self._day(2)}).action_create_payments()
        self.assertEqual(invoice.payment_state, "partial")
        self.assertEqual(case.state, "open")
        self.assertEqual(case.amount_due, 60.0)
        self.assertEqual(case.failed_amount, 100.0)

    def test_mark_recovered_manually(self):
        sub, invoice, __, case = self._suspended_case()
        with freeze_time(self._day(25)):
            case.action_mark_recovered()
        self.assertRecovered(case, "manual", self._day(25))
        self.assertEqual(sub.state, "active")

    def test_reversed_invoice_cancels_case(self):
        sub, invoice, __, case = self._suspended_case()
        with freeze_time(self._day(24)):
            invoice._reverse_moves(cancel=True)
        self.assertEqual(invoice.payment_state, "reversed")
        self._dun_run(self._day(24))
        self.assertEqual(case.state, "cancelled")
        self.assertEqual(sub.state, "active")
        self.assertFalse(sub.q2c_dunning_suspended)
        self.assertEqual(invoice.q2c_collectibility, "collectible")

    def test_reset_to_draft_cancels_case(self):
        __, invoice, __ = self._dun_failed_invoice()
        case = self._dun_case(invoice)
        invoice.button_draft()
        self.assertEqual(case.state, "cancelled")
        self.assertFalse(invoice.q2c_dunning_case_id)

    def test_two_open_invoices_hold_the_subscription(self):
        """A subscription suspended by two unpaid invoices resumes when both are paid."""
        token = self._dun_token(self.customer, "error")
        sub = self._dun_subscription(token=token)
        first = self._dun_invoice(sub)
        second = self._dun_invoice(sub)
        with freeze_time(DAY0):
            self._dun_charge(first, "error")
            self._dun_charge(second, "error")
        for n in (1, 21):
            self._dun_run(self._day(n))
        self.assertEqual(sub.state, "paused")
        self._dun_pay_manually(first, self._day(22))
        self.assertEqual(self._dun_case(first).state, "recovered")
        self.assertEqual(sub.state, "paused", "the second invoice still holds it")
        self.assertTrue(sub.q2c_dunning_suspended)
        self._dun_pay_manually(second, self._day(23))
        self.assertEqual(sub.state, "active")
        self.assertFalse(sub.q2c_dunning_suspended)

    def test_invoice_of_two_subscriptions_suspends_both(self):
        token = self._dun_token(self.customer, "error")
        sub_a = self._dun_subscription(token=token)
        sub_b = self._dun_subscription(token=token)
        invoice = self._dun_invoice(sub_a, post=False)
        invoice.write(
            {
                "invoice_line_ids": [
                    Command.create(
                        {
                            "product_id": self.product.id,
                            "name": "second subscription",
                            "quantity": 1.0,
                            "price_unit": 50.0,
                            "tax_ids": [Command.clear()],
                            "q2c_subscription_id": sub_b.id,
                        }
                    )
                ]
            }
        )
        invoice.with_context(q2c_no_autopay=True).action_post()
        with freeze_time(DAY0):
            self._dun_charge(invoice, "error")
        case = self._dun_case(invoice)
        self.assertEqual(case.subscription_ids, sub_a | sub_b)
        self.assertEqual(case.failed_amount, 150.0)
        self._dun_run(self._day(21))
        self.assertEqual((sub_a | sub_b).mapped("state"), ["paused", "paused"])
        self._dun_pay_manually(invoice, self._day(22))
        self.assertEqual((sub_a | sub_b).mapped("state"), ["active", "active"])

    def test_recovery_at_each_step_by_each_channel(self):
        """Paid the day after each step of the default schedule, by an automatic charge, by the
        customer in the portal or by a payment registered by hand: the case ends recovered at
        once, by that channel, after that step; a suspended subscription resumes; nothing more
        runs for the invoice (no retry, no mail, no cancellation)."""
        steps = {
            1: "q2c_dunning.dunning_step_default_send_reminder_1",
            3: "q2c_dunning.dunning_step_default_retry_payment_3",
            7: "q2c_dunning.dunning_step_default_send_reminder_7",
            14: "q2c_dunning.dunning_step_default_send_reminder_14",
            21: "q2c_dunning.dunning_step_default_suspend_21",
        }
        channels = {
            "retry": lambda invoice, day: self._dun_charge_on(invoice, day),
            "portal": self._dun_pay_in_portal,
            "manual": self._dun_pay_manually,
        }
        for last_day, step in steps.items():
            for channel, pay in channels.items():
                with self.subTest(step=last_day, channel=channel):
                    sub, invoice, __ = self._dun_failed_invoice()
                    case = self._dun_case(invoice)
                    for n in (1, 3, 5, 7, 14, 21):
                        if n <= last_day:
                            self._dun_run(self._day(n))
                    self.assertEqual(sub.state, "paused" if last_day == 21 else "active")
                    mails = len(self._dun_mails(invoice))
                    attempts = len(invoice.q2c_autopay_transaction_ids)
                    pay(invoice, self._day(last_day + 1))
                    self.assertRecovered(case, channel, self._day(last_day + 1), step)
                    self.assertEqual(sub.state, "active")
                    self.assertFalse(sub.q2c_dunning_suspended)
                    self.assertEqual(
                        "resume_subscription" in case.log_ids.mapped("action"), last_day == 21
                    )
                    self.assertEqual(self._dun_run(self._day(30)), NOTHING)
                    self.assertEqual(sub.state, "active")
                    self.assertEqual(len(self._dun_mails(invoice)), mails)
                    self.assertEqual(
                        len(invoice.q2c_autopay_transaction_ids),
                        attempts + (1 if channel == "retry" else 0),
                    )

    def _dun_charge_on(self, invoice, day):
        """The automatic payment charges the invoice again on ``day`` and it goes through."""
        with freeze_time(day):
            return self._dun_charge(invoice, "done")
