from freezegun import freeze_time

from odoo.exceptions import ValidationError
from odoo.tests import tagged

from .common import DAY0, Q2cDunningCommon

NOTHING = {"retried": 0, "reminded": 0, "suspended": 0, "cancelled": 0, "recovered": 0}


@tagged("post_install", "-at_install")
class TestDunningSchedule(Q2cDunningCommon):
    def test_failed_payment_opens_case(self):
        sub, invoice, token = self._dun_failed_invoice()
        case = self._dun_case(invoice)
        self.assertRecordValues(
            case,
            [
                {
                    "state": "open",
                    "stage": "new",
                    "origin": "payment_failed",
                    "start_date": DAY0,
                    "schedule_date": DAY0,
                    "partner_id": self.customer.id,
                    "subscription_id": sub.id,
                    "policy_id": self.policy.id,
                    "failed_amount": 100.0,
                    "failed_amount_company": 100.0,
                    "hard_decline": False,
                    "next_action_date": self._day(1),
                }
            ],
        )
        self.assertEqual(case.next_step_id.delay_days, 1)
        self.assertEqual(invoice.q2c_dunning_case_id, case)
        self.assertEqual(invoice.q2c_collectibility, "collectible")
        self.assertEqual(case.log_ids.mapped("action"), ["open"])
        # The same day: nothing is due yet, the run opens nothing more.
        self.assertEqual(self._dun_run(DAY0), NOTHING)
        self.assertEqual(len(self._dun_case(invoice)), 1)

    def test_whole_default_schedule(self):
        """Retries on days 1, 3, 5, 7, reminders on days 1, 7, 14, suspension on day 21,
        cancellation on day 30, with the runs of every day in between doing nothing."""
        sub, invoice, token = self._dun_failed_invoice()
        case = self._dun_case(invoice)
        expected = {
            1: {"retried": 1, "reminded": 1},
            3: {"retried": 1},
            5: {"retried": 1},
            7: {"retried": 1, "reminded": 1},
            14: {"reminded": 1},
            21: {"suspended": 1},
            30: {"cancelled": 1},
        }
        for n in range(1, 32):
            result = self._dun_run(self._day(n))
            self.assertEqual(result, {**NOTHING, **expected.get(n, {})}, f"day {n}")
            if n == 14:
                self.assertEqual(case.stage, "reminded")
                self.assertEqual(case.next_action_date, self._day(21))
                self.assertEqual(sub.state, "active")
            if n == 21:
                self.assertEqual(sub.state, "paused")
                self.assertTrue(sub.q2c_dunning_suspended)
                self.assertEqual(sub.paused_date, self._day(21))
                self.assertTrue(case.suspended)
                self.assertEqual(case.stage, "suspended")
                self.assertEqual(invoice.q2c_collectibility, "doubtful")
        self.assertEqual(sub.state, "closed")
        self.assertEqual(sub.close_reason_id, self.reason_unpaid)
        self.assertEqual(sub.closed_date, self._day(30))
        self.assertFalse(sub.q2c_dunning_suspended)
        self.assertRecordValues(
            case,
            [
                {
                    "state": "open",
                    "stage": "cancelled",
                    "next_action_date": False,
                    "current_step_id": self.env.ref(
                        "q2c_dunning.dunning_step_default_cancel_30"
                    ).id,
                }
            ],
        )
        # The invoice stays due and doubtful: it can still be paid.
        self.assertEqual(invoice.q2c_collectibility, "doubtful")
        self.assertEqual(invoice.payment_state, "not_paid")
        # One attempt at posting and four retries, each a transaction refused.
        attempts = invoice.q2c_autopay_transaction_ids
        self.assertEqual(len(attempts), 5)
        self.assertEqual(set(attempts.mapped("state")), {"error"})
        self.assertEqual(
            self._dun_results(case),
            [
                ("retry_payment", "failed"),
                ("send_reminder", "done"),
                ("retry_payment", "failed"),
                ("retry_payment", "failed"),
                ("retry_payment", "failed"),
                ("send_reminder", "done"),
                ("send_reminder", "done"),
                ("suspend", "done"),
                ("cancel", "done"),
            ],
        )
        retries = case.log_ids.filtered(lambda log: log.action == "retry_payment")
        first = attempts.filtered(lambda tx: tx.q2c_attempt == 1)
        self.assertEqual(retries.transaction_id, attempts - first)
        mails = self._dun_mails(invoice)
        templates = [
            "q2c_dunning.mail_template_dunning_friendly",
            "q2c_dunning.mail_template_dunning_firm",
            "q2c_dunning.mail_template_dunning_final",
            "q2c_dunning.mail_template_dunning_suspended",
            "q2c_dunning.mail_template_dunning_cancelled",
        ]
        subjects = [
            self.env.ref(xmlid)._render_field("subject", invoice.ids)[invoice.id]
            for xmlid in templates
        ]
        self.assertEqual(mails.mapped("subject"), subjects)
        self.assertEqual(set(mails.mapped("state")), {"outgoing"})
        self.assertEqual(
            case.log_ids.filtered("mail_id").mail_id, mails, "every mail is on the timeline"
        )

    def test_rerun_same_date_does_nothing(self):
        __, invoice, __ = self._dun_failed_invoice()
        case = self._dun_case(invoice)
        first = self._dun_run(self._day(7))
        self.assertEqual(first["retried"], 1)
        self.assertEqual(first["reminded"], 1)
        logs, mails = len(case.log_ids), len(self._dun_mails(invoice))
        attempts = len(invoice.q2c_autopay_transaction_ids)
        self.assertEqual(self._dun_run(self._day(7)), NOTHING)
        self.assertEqual(len(case.log_ids), logs)
        self.assertEqual(len(self._dun_mails(invoice)), mails)
        self.assertEqual(len(invoice.q2c_autopay_transaction_ids), attempts)
        runs = self.env["q2c.dunning.run"].search([("date", "=", self._day(7))])
        self.assertEqual(len(runs), 2)
        self.assertEqual(runs.sorted("id").mapped("retried"), [1, 0])

    def test_late_run_does_not_pile_up(self):
        """A run that missed days charges and mails once: the earlier retries and reminders
        due are logged as superseded."""
        __, invoice, __ = self._dun_failed_invoice()
        case = self._dun_case(invoice)
        result = self._dun_run(self._day(8))
        self.assertEqual(result, {**NOTHING, "retried": 1, "reminded": 1})
        self.assertEqual(len(invoice.q2c_autopay_transaction_ids), 2)
        self.assertEqual(len(self._dun_mails(invoice)), 1)
        self.assertEqual(
            self._dun_mails(invoice).subject,
            self.env.ref("q2c_dunning.mail_template_dunning_firm")._render_field(
                "subject", invoice.ids
            )[invoice.id],
        )
        skipped = case.log_ids.filtered(lambda log: log.result == "skipped")
        self.assertEqual(len(skipped), 4)  # retries 1, 3, 5 and the reminder of day 1
        self.assertEqual(case.next_action_date, self._day(14))

    def test_past_due_invoice_without_payment_method(self):
        """An invoice not charged automatically opens a case the day after it falls due; the
        retries are skipped (nothing to charge) and the reminders go out."""
        sub = self._dun_subscription()
        invoice = self._dun_invoice(sub, due=self._day(10))
        self.assertEqual(self._dun_run(self._day(10)), NOTHING)
        self.assertFalse(self._dun_case(invoice))
        result = self._dun_run(self._day(11))
        case = self._dun_case(invoice)
        self.assertRecordValues(
            case, [{"origin": "past_due", "start_date": self._day(10), "stage": "reminded"}]
        )
        self.assertEqual(result, {**NOTHING, "reminded": 1})
        self.assertEqual(
            self._dun_results(case), [("retry_payment", "skipped"), ("send_reminder", "done")]
        )
        run = self.env["q2c.dunning.run"].search([], limit=1)
        self.assertEqual(run.opened, 1)
        self.assertEqual(run.reminded, 1)

    def test_paid_and_draft_invoices_are_not_dunned(self):
        sub = self._dun_subscription()
        paid = self._dun_invoice(sub)
        self._dun_pay_manually(paid, DAY0)
        draft = self._dun_invoice(sub, post=False)
        excluded = self._dun_invoice(sub)
        excluded.q2c_dunning_excluded = True
        not_subscription = self.init_invoice(
            "out_invoice", partner=self.customer, invoice_date=DAY0, amounts=[50.0], post=True
        )
        self._dun_run(self._day(5))
        cases = self.env["q2c.dunning.case"].search(
            [("invoice_id", "in", (paid | draft | excluded | not_subscription).ids)]
        )
        self.assertFalse(cases)

    def test_cron_runs_the_same_code(self):
        __, invoice, __ = self._dun_failed_invoice()
        cron = self.env.ref("q2c_dunning.q2c_dunning_run_cron")
        self.assertEqual(cron.interval_type, "days")
        self.assertEqual(cron.code, "model._cron_run_dunning()")
        with self._dun_provider_answer("error"), freeze_time(self._day(1)):
            remaining = self.env["q2c.dunning.run"]._cron_run_dunning()
        self.assertEqual(remaining, 0)
        run = self.env["q2c.dunning.run"].search([("trigger", "=", "cron")], limit=1)
        self.assertEqual((run.retried, run.reminded), (1, 1))
        self.assertGreaterEqual(run.duration, 0.0)
        self.assertEqual(self._dun_case(invoice).stage, "reminded")

    def test_cron_batches_report_remaining_work(self):
        for partner in (self.customer, self.customer_2):
            self._dun_failed_invoice(partner=partner)
        with self._dun_provider_answer("error"), freeze_time(self._day(1)):
            self.assertEqual(self.env["q2c.dunning.run"]._cron_run_dunning(limit=1), 1)
            self.assertEqual(self.env["q2c.dunning.run"]._cron_run_dunning(limit=1), 0)
            self.assertEqual(self.env["q2c.dunning.run"]._cron_run_dunning(limit=1), 0)
        runs = self.env["q2c.dunning.run"].search([("trigger", "=", "cron")], order="id")
        self.assertEqual(runs.mapped("retried"), [1, 1, 0])

    def test_bad_date_is_refused(self):
        with self.assertRaisesRegex(ValidationError, "'date'"):
            self.env["q2c.dunning.run"].run_dunning("tomorrow")
