from datetime import timedelta

from freezegun import freeze_time

from odoo import Command
from odoo.exceptions import UserError, ValidationError
from odoo.tests import tagged

from .common import DAY0, Q2cDunningCommon

NOTHING = {"retried": 0, "reminded": 0, "suspended": 0, "cancelled": 0, "recovered": 0}


@tagged("post_install", "-at_install")
class TestDunningPolicy(Q2cDunningCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        Policy = cls.env["q2c.dunning.policy"]
        cls.policy_plan = Policy.create(
            {
                "name": "Enterprise plans",
                "sequence": 20,
                "step_ids": [Command.create({"delay_days": 10, "action": "send_reminder"})],
            }
        )
        cls.policy_customer = Policy.create(
            {
                "name": "Key account",
                "sequence": 30,
                "step_ids": [Command.create({"delay_days": 20, "action": "send_reminder"})],
            }
        )

    def test_precedence_customer_then_plan_then_default(self):
        sub = self._dun_subscription()
        invoice = self._dun_invoice(sub)
        Policy = self.env["q2c.dunning.policy"]
        self.assertEqual(Policy._q2c_policies_for(invoice)[invoice.id], self.policy)
        self.plan.dunning_policy_id = self.policy_plan
        self.assertEqual(Policy._q2c_policies_for(invoice)[invoice.id], self.policy_plan)
        self.customer.q2c_dunning_policy_id = self.policy_customer
        self.assertEqual(Policy._q2c_policies_for(invoice)[invoice.id], self.policy_customer)
        # An archived customer policy falls back to the plan's.
        self.policy_customer.active = False
        self.customer.invalidate_recordset()
        self.assertEqual(
            Policy._q2c_policies_for(invoice)[invoice.id].id,
            self.policy_customer.id,
            "an archived policy set on the customer still applies (explicit choice)",
        )

    def test_milestones_of_cases_read_together(self):
        """Suspension and cancellation dates are computed once per policy and schedule date
        when cases are read together: each case still gets its own policy's and start's."""
        short = self.env["q2c.dunning.policy"].create(
            {
                "name": "Short",
                "sequence": 40,
                "step_ids": [
                    Command.create({"delay_days": 9, "action": "cancel"}),
                    Command.create({"delay_days": 5, "action": "suspend"}),
                    Command.create({"delay_days": 2, "action": "send_reminder"}),
                ],
            }
        )
        self.customer_2.q2c_dunning_policy_id = short
        # A policy without suspension nor cancellation.
        third = self.env["res.partner"].create({"name": "Third", "email": "third@example.com"})
        third.q2c_dunning_policy_id = self.policy_customer
        day1 = DAY0 + timedelta(days=1)
        invoices = [
            self._dun_failed_invoice()[1],
            self._dun_failed_invoice()[1],
            self._dun_failed_invoice(day=day1)[1],
            self._dun_failed_invoice(partner=self.customer_2)[1],
            self._dun_failed_invoice(partner=self.customer_2, day=day1)[1],
            self._dun_failed_invoice(partner=third)[1],
        ]
        cases = self.env["q2c.dunning.case"].browse(
            [self._dun_case(invoice).id for invoice in invoices]
        )
        self.assertEqual(cases.mapped("policy_id"), self.policy | short | self.policy_customer)
        cases.invalidate_recordset(["suspend_date", "cancel_date"])
        days = timedelta
        self.assertEqual(
            [(case.suspend_date, case.cancel_date) for case in cases],
            [
                (DAY0 + days(21), DAY0 + days(30)),
                (DAY0 + days(21), DAY0 + days(30)),
                (day1 + days(21), day1 + days(30)),
                (DAY0 + days(5), DAY0 + days(9)),
                (day1 + days(5), day1 + days(9)),
                (False, False),
            ],
        )

    def test_company_default_is_first_by_sequence(self):
        self.policy_plan.sequence = 0
        sub = self._dun_subscription()
        invoice = self._dun_invoice(sub)
        Policy = self.env["q2c.dunning.policy"]
        self.assertEqual(Policy._q2c_policies_for(invoice)[invoice.id], self.policy_plan)
        # A policy of another company never applies.
        other = self.setup_other_company()["company"]
        self.policy_plan.company_id = other
        self.assertEqual(Policy._q2c_policies_for(invoice)[invoice.id], self.policy)

    def test_case_follows_plan_policy(self):
        self.plan.dunning_policy_id = self.policy_plan
        __, invoice, __ = self._dun_failed_invoice()
        case = self._dun_case(invoice)
        self.assertEqual(case.policy_id, self.policy_plan)
        self.assertEqual(case.next_action_date, self._day(10))
        self.assertEqual(self._dun_run(self._day(9)), NOTHING)
        self.assertEqual(self._dun_run(self._day(10)), {**NOTHING, "reminded": 1})

    def test_policy_edit_reschedules_open_cases(self):
        __, invoice, __ = self._dun_failed_invoice()
        case = self._dun_case(invoice)
        self.assertEqual(case.next_action_date, self._day(1))
        self.policy.step_ids.filtered(lambda step: step.delay_days == 1).delay_days = 2
        self.assertEqual(case.next_action_date, self._day(2))

    def test_skip_pause_resume_escalate(self):
        __, invoice, __ = self._dun_failed_invoice()
        case = self._dun_case(invoice)
        with freeze_time(DAY0):
            case.action_skip_step()  # the day-1 retry
        self.assertEqual(case.next_step_id.action, "send_reminder")
        with freeze_time(self._day(1)):
            case.action_pause()
        self.assertEqual(case.state, "paused")
        self.assertFalse(case.next_action_date)
        self.assertEqual(self._dun_run(self._day(3)), NOTHING)
        with freeze_time(self._day(5)):
            case.action_resume()
        # Paused four days: the schedule moves four days later.
        self.assertEqual(case.schedule_date, self._day(4))
        self.assertEqual(case.next_action_date, self._day(5))
        with freeze_time(self._day(5)):
            case.action_escalate()  # the reminder of (shifted) day 1, now
        self.assertEqual(len(self._dun_mails(invoice)), 1)
        self.assertEqual(case.stage, "reminded")
        actions = [(log.action, log.result) for log in case.log_ids.sorted("id")]
        self.assertEqual(
            actions,
            [
                ("open", "done"),
                ("retry_payment", "skipped"),
                ("pause", "done"),
                ("resume", "done"),
                ("send_reminder", "done"),
            ],
        )
        with self.assertRaisesRegex(UserError, "Cannot resume"):
            case.action_resume()

    def test_block_new_orders_while_suspended(self):
        self.policy.block_new_orders = True
        __, invoice, __ = self._dun_failed_invoice()
        order = self.env["sale.order"].create(
            {
                "partner_id": self.customer.id,
                "order_line": [Command.create({"product_id": self.product.id})],
            }
        )
        self._dun_run(self._day(1))
        other = order.copy()
        other.action_confirm()  # not suspended yet: allowed
        self._dun_run(self._day(21))
        with self.assertRaisesRegex(UserError, f"suspended for non-payment.*{invoice.name}"):
            order.action_confirm()
        # Another customer is not blocked.
        order.partner_id = self.customer_2
        order.action_confirm()
        self.assertEqual(order.state, "sale")

    def test_no_block_without_the_option(self):
        __, invoice, __ = self._dun_failed_invoice()
        self._dun_run(self._day(21))
        order = self.env["sale.order"].create(
            {
                "partner_id": self.customer.id,
                "order_line": [Command.create({"product_id": self.product.id})],
            }
        )
        order.action_confirm()
        self.assertEqual(order.state, "sale")

    def test_dunning_fee_on_next_invoice(self):
        self.policy.write({"fee_product_id": self.fee_product.id, "fee_delay_days": 14})
        sub, invoice, __ = self._dun_failed_invoice()
        case = self._dun_case(invoice)
        self._dun_run(self._day(13))
        self.assertFalse(sub.line_ids.filtered(lambda line: line.product_id == self.fee_product))
        self._dun_run(self._day(14))
        fee = sub.line_ids.filtered(lambda line: line.product_id == self.fee_product)
        self.assertEqual(len(fee), 1)
        self.assertEqual(fee.price_plan_id, self.fee_plan)
        self.assertEqual(fee.charge_type, "one_time")
        self.assertEqual(fee.period_amount, 15.0)
        self.assertFalse(fee.one_time_billed)
        log = case.log_ids.filtered(lambda log: log.action == "fee")
        self.assertEqual(log.result, "done")
        self._dun_run(self._day(15))
        self.assertEqual(
            len(sub.line_ids.filtered(lambda line: line.product_id == self.fee_product)), 1
        )

    def test_dunning_fee_without_one_time_plan_is_noted(self):
        self.policy.write({"fee_product_id": self.product.id, "fee_delay_days": 1})
        sub, invoice, __ = self._dun_failed_invoice()
        self._dun_run(self._day(1))
        log = self._dun_case(invoice).log_ids.filtered(lambda log: log.action == "fee")
        self.assertEqual(log.result, "skipped")
        self.assertIn("one-time price plan", log.note)
        self.assertEqual(len(sub.line_ids), 1)

    def test_constraints(self):
        Policy = self.env["q2c.dunning.policy"]
        with self.assertRaisesRegex(ValidationError, "Reminder Before Due"):
            Policy.create({"name": "Early", "pre_due_days": -1})
        with self.assertRaisesRegex(ValidationError, "Fee After"):
            Policy.create({"name": "Fee", "fee_delay_days": -2})
        __, invoice, __ = self._dun_failed_invoice()
        with self.assertRaisesRegex(UserError, "cannot be deleted"):
            self._dun_case(invoice).unlink()

    def test_one_open_case_per_invoice(self):
        __, invoice, __ = self._dun_failed_invoice()
        case = self._dun_case(invoice)
        vals = self.env["q2c.dunning.case"]._q2c_prepare_case_vals(
            invoice, self.policy, "past_due", DAY0
        )
        created = self.env["q2c.dunning.case"]._q2c_create_cases([vals])
        self.assertFalse(created)
        self.assertEqual(self._dun_case(invoice), case)

    def test_stop_dunning(self):
        sub, invoice, __ = self._dun_failed_invoice()
        case = self._dun_case(invoice)
        self._dun_run(self._day(21))
        with freeze_time(self._day(22)):
            case.action_cancel()
        self.assertEqual(case.state, "cancelled")
        self.assertTrue(invoice.q2c_dunning_excluded)
        self.assertEqual(sub.state, "active")
        self._dun_run(self._day(23))
        self.assertEqual(self._dun_case(invoice), case, "not reopened")
