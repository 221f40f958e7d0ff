from freezegun import freeze_time

from odoo.tests import tagged

from .common import DAY0, Q2cDunningCommon

NOTHING = {"retried": 0, "reminded": 0, "suspended": 0, "cancelled": 0, "recovered": 0}


@tagged("post_install", "-at_install")
class TestDunningHardDecline(Q2cDunningCommon):
    def test_hard_decline_stops_retries_and_asks_new_payment_method(self):
        sub, invoice, token = self._dun_failed_invoice(decline_code="lost_card")
        case = self._dun_case(invoice)
        self.assertRecordValues(
            case,
            [
                {
                    "hard_decline": True,
                    "decline_code": "lost_card",
                    "declined_token_id": token.id,
                    "hard_decline_date": DAY0,
                    # The notice asking for a new payment method is due at once.
                    "next_action_date": DAY0,
                }
            ],
        )
        cron = self.env.ref("q2c_dunning.q2c_dunning_run_cron")
        self.assertTrue(self.env["ir.cron.trigger"].search([("cron_id", "=", cron.id)]))
        # The run of the same day sends the notice (straight to a reminder).
        self.assertEqual(self._dun_run(DAY0), {**NOTHING, "reminded": 1})
        notice = self._dun_mails(invoice)
        self.assertEqual(len(notice), 1)
        template = self.env.ref("q2c_dunning.mail_template_dunning_payment_method")
        self.assertEqual(notice.subject, template._render_field("subject", invoice.ids)[invoice.id])
        self.assertIn("lost_card", notice.body_html)
        self.assertIn(invoice.q2c_dunning_payment_method_url, notice.body_html)
        # Day 1: the retry is skipped (same card), the friendly reminder goes out.
        self.assertEqual(self._dun_run(self._day(1)), {**NOTHING, "reminded": 1})
        self.assertEqual(len(invoice.q2c_autopay_transaction_ids), 1, "never charged again")
        for n in (3, 5, 7):
            self._dun_run(self._day(n))
        self.assertEqual(len(invoice.q2c_autopay_transaction_ids), 1)
        retries = case.log_ids.filtered(lambda log: log.action == "retry_payment")
        self.assertEqual(set(retries.mapped("result")), {"skipped"})
        self.assertEqual(len(retries), 4)
        self.assertTrue(all("hard decline" in note for note in retries.mapped("note")))
        self.assertEqual(len(self._dun_mails(invoice)), 3)  # notice, friendly, firm

    def test_new_payment_method_after_hard_decline_is_charged(self):
        sub, invoice, token = self._dun_failed_invoice(decline_code="stolen_card")
        self._dun_run(DAY0)
        case = self._dun_case(invoice)
        good = self._dun_token(self.customer, "done", details="1881")
        with freeze_time(self._day(2)):
            sub.payment_token_id = good
        self.assertLessEqual(case.next_action_date, self._day(2))
        result = self._dun_run(self._day(2))
        self.assertEqual(result, {**NOTHING, "retried": 1, "recovered": 1})
        self.assertEqual(case.state, "recovered")
        self.assertEqual(case.recovery_channel, "retry")
        tx = invoice.q2c_autopay_transaction_ids.filtered(lambda tx: tx.state == "done")
        self.assertEqual(tx.token_id, good)
        retry = case.log_ids.filtered(lambda log: log.claim_key == f"new_token:{good.id}")
        self.assertEqual(retry.result, "done")
        self.assertEqual(retry.transaction_id, tx)

    def test_new_card_soft_declined_resumes_normal_retries(self):
        sub, invoice, token = self._dun_failed_invoice(decline_code="expired_card")
        self._dun_run(DAY0)
        case = self._dun_case(invoice)
        other = self._dun_token(self.customer, "error", details="7777")
        with freeze_time(self._day(2)):
            sub.payment_token_id = other
        self.assertEqual(
            self._dun_run(self._day(2), state="error", decline_code="insufficient_funds"),
            {**NOTHING, "retried": 1, "reminded": 1},
        )
        self.assertFalse(case.hard_decline)
        self.assertEqual(self._dun_run(self._day(3), state="error")["retried"], 1)
        self.assertEqual(len(invoice.q2c_autopay_transaction_ids), 3)

    def test_retry_hard_declined_sends_the_notice_the_same_run(self):
        """A soft failure first; the day-1 retry is a hard decline: the new payment method
        notice replaces the friendly reminder of that day and later retries are skipped."""
        sub, invoice, token = self._dun_failed_invoice()
        case = self._dun_case(invoice)
        result = self._dun_run(self._day(1), state="error", decline_code="account_closed")
        self.assertEqual(result, {**NOTHING, "retried": 1, "reminded": 1})
        self.assertTrue(case.hard_decline)
        mails = self._dun_mails(invoice)
        self.assertEqual(len(mails), 1)
        template = self.env.ref("q2c_dunning.mail_template_dunning_payment_method")
        self.assertEqual(mails.subject, template._render_field("subject", invoice.ids)[invoice.id])
        reminder = case.log_ids.filtered(
            lambda log: log.step_id.action == "send_reminder" and log.step_id.delay_days == 1
        )
        self.assertEqual(reminder.result, "skipped")
        self.assertEqual(self._dun_run(self._day(3))["retried"], 0)
        self.assertEqual(len(invoice.q2c_autopay_transaction_ids), 2)
