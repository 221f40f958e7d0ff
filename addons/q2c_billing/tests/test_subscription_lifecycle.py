from datetime import date

from odoo.exceptions import UserError, ValidationError
from odoo.tests import Form, freeze_time, tagged

from .common import Q2cSubscriptionCommon


@tagged("post_install", "-at_install")
class TestSubscriptionLifecycle(Q2cSubscriptionCommon):
    def test_create_defaults_and_sequence(self):
        sub = self._q2c_subscription([(self.plan_seat, 3)], activate=False)
        self.assertRegex(sub.name, r"^SUB/\d{4}/\d{5}$")
        self.assertEqual(sub.state, "draft")
        self.assertEqual(sub.currency_id, self.usd)
        self.assertEqual(sub.billing_period, "month")
        self.assertEqual(sub.billing_interval, 1)
        self.assertEqual(sub.proration_policy, "daily")
        self.assertEqual(sub.line_ids.price_plan_id, self.plan_seat)
        self.assertEqual(sub.line_ids.period_amount, 30.0)
        self.assertEqual(sub.recurring_total, 30.0)
        self.assertEqual(sub.mrr, 0.0, "a draft subscription has no MRR")
        other = self._q2c_subscription([(self.plan_seat, 1)], activate=False)
        self.assertNotEqual(other.name, sub.name)

    def test_plan_found_from_product_and_currency(self):
        sub = self.env["q2c.subscription"].create(
            {
                "partner_id": self.partner_eu.id,
                "currency_id": self.eur.id,
                "start_date": date(2026, 1, 1),
                "line_ids": [(0, 0, {"product_id": self.product_seat.id, "quantity": 2})],
            }
        )
        self.assertEqual(sub.line_ids.price_plan_id, self.plan_seat_eur)
        self.assertEqual(sub.line_ids.period_amount, 18.0)
        with self.assertRaisesRegex(ValidationError, "Onboarding.*no price plan in EUR"):
            sub.write({"line_ids": [(0, 0, {"product_id": self.product_setup.id})]})

    def test_activate_and_mrr(self):
        sub = self._q2c_subscription(
            [
                (self.plan_platform, 1),
                (self.plan_seat, 5),
                (self.plan_gold_yearly, 4),
                (self.plan_setup, 1),
            ],
        )
        self.assertEqual(sub.state, "active")
        self.assertEqual(sub.activated_date, date(2026, 1, 1))
        self.assertEqual(sub.next_invoice_date, date(2026, 1, 1))
        self.assertEqual(sub.anchor_date, date(2026, 1, 1))
        # 100 + 5 x 10 + 4 x 500 / 12 (166.67); one-time charges are no MRR.
        self.assertEqual(sub.mrr, 316.67)
        self.assertEqual(sub.arr, 3800.04)
        self.assertEqual(sub.mrr_company, 316.67)
        self.assertTrue(any("Activated" in message.body for message in sub.message_ids))

    def test_mrr_company_currency(self):
        sub = self._q2c_subscription(
            [(self.plan_platform_eur, 1), (self.plan_seat_eur, 10)],
            partner=self.partner_eu,
            currency=self.eur,
        )
        self.assertEqual(sub.mrr, 180.0)
        # 1 USD = 0.8 EUR
        self.assertEqual(sub.mrr_company, 225.0)

    def test_mrr_discount_until(self):
        sub = self._q2c_subscription(
            [
                (self.plan_seat, 10, {"discount": 20.0, "discount_end_date": date(2999, 1, 1)}),
                (self.plan_platform, 1, {"discount": 50.0, "discount_end_date": date(2000, 1, 1)}),
            ]
        )
        self.assertEqual(sub.mrr, 180.0, "80 (seats, discounted) + 100 (discount over)")

    def test_activate_without_lines_refused(self):
        sub = self.env["q2c.subscription"].create({"partner_id": self.partner.id})
        with self.assertRaisesRegex(UserError, "has no lines"):
            sub.action_activate()

    def test_trial(self):
        sub = self._q2c_subscription([(self.plan_seat, 2)], trial_end_date=date(2026, 1, 14))
        self.assertEqual(sub.state, "trial")
        self.assertEqual(sub.next_invoice_date, date(2026, 1, 15))
        self.assertEqual(sub.anchor_date, date(2026, 1, 15))
        self.assertFalse(sub.activated_date)
        self.assertEqual(sub.mrr, 0.0)
        # Nothing billed during the trial.
        self.assertEqual(self._run(date(2026, 1, 14))["invoice_ids"], [])
        # The run after the trial activates and bills from the day after.
        result = self._run(date(2026, 1, 15))
        self.assertEqual(sub.state, "active")
        self.assertEqual(sub.activated_date, date(2026, 1, 15))
        invoice = self._invoices(result)
        self.assertEqual(invoice.amount_untaxed, 20.0)
        line = invoice.invoice_line_ids
        self.assertEqual(
            (line.q2c_period_start, line.q2c_period_end), (date(2026, 1, 15), date(2026, 2, 14))
        )
        self.assertEqual(sub.next_invoice_date, date(2026, 2, 15))

    @freeze_time("2026-01-10")
    def test_end_trial_early(self):
        sub = self._q2c_subscription([(self.plan_seat, 2)], trial_end_date=date(2026, 1, 31))
        self.assertEqual(sub.state, "trial")
        sub.action_activate()
        self.assertEqual(sub.state, "active")
        self.assertEqual(sub.activated_date, date(2026, 1, 10))
        self.assertEqual(sub.trial_end_date, date(2026, 1, 9))
        self.assertEqual(sub.next_invoice_date, date(2026, 1, 10))
        self.assertEqual(sub.anchor_date, date(2026, 1, 10))

    def test_pause_and_resume(self):
        sub = self._q2c_subscription([(self.plan_seat, 3)])
        self._run(date(2026, 1, 1))
        sub.action_pause("2026-01-20")
        self.assertEqual(sub.state, "paused")
        self.assertEqual(sub.paused_date, date(2026, 1, 20))
        self.assertEqual(sub.mrr, 0.0)
        self.assertIn("Paused", sub.message_ids[0].body)
        # No new period while paused.
        self.assertEqual(self._run(date(2026, 2, 15))["invoice_ids"], [])
        self.assertFalse(sub.next_invoice_date)
        sub.action_resume("2026-03-16")
        self.assertEqual(sub.state, "active")
        self.assertEqual(sub.resumed_date, date(2026, 3, 16))
        self.assertEqual(sub.next_invoice_date, date(2026, 3, 16))
        # The period Mar 1-31 is billed from the 16th: 16/31 of 30.00 = 15.48.
        invoice = self._invoices(self._run(date(2026, 3, 16)))
        self.assertEqual(invoice.amount_untaxed, 15.48)
        self.assertEqual(invoice.invoice_line_ids.q2c_period_start, date(2026, 3, 16))
        self.assertEqual(invoice.invoice_line_ids.q2c_period_end, date(2026, 3, 31))
        self.assertEqual(sub.next_invoice_date, date(2026, 4, 1))

    def test_resume_within_the_paid_period(self):
        sub = self._q2c_subscription([(self.plan_seat, 3)])
        self._run(date(2026, 1, 1))
        sub.action_pause(date(2026, 1, 10))
        sub.action_resume(date(2026, 1, 20))
        self.assertEqual(sub.next_invoice_date, date(2026, 2, 1))
        invoice = self._invoices(self._run(date(2026, 2, 1)))
        self.assertEqual(invoice.amount_untaxed, 30.0)

    def test_close_with_reason_name_and_credit(self):
        sub = self._q2c_subscription([(self.plan_seat, 3)])
        self._run(date(2026, 1, 1))
        sub.action_close("2026-01-15", "too expensive")
        self.assertEqual(sub.state, "closed")
        self.assertEqual(sub.closed_date, date(2026, 1, 15))
        self.assertEqual(sub.end_date, date(2026, 1, 15))
        self.assertEqual(sub.close_reason_id, self.reason_price)
        self.assertEqual(sub.next_invoice_date, date(2026, 1, 16))
        self.assertIn("Too expensive", sub.message_ids[0].body)
        # Final invoice: the unused Jan 16-31 (16/31 of 30.00) is credited.
        result = self._run(date(2026, 1, 16))
        refund = self._invoices(result)
        self.assertEqual(refund.move_type, "out_refund")
        self.assertEqual(refund.amount_untaxed, 15.48)
        self.assertFalse(sub.next_invoice_date)
        self.assertEqual(self._run(date(2026, 3, 1))["invoice_ids"], [])

    def test_close_reason_by_id_and_unknown(self):
        sub = self._q2c_subscription([(self.plan_seat, 3)])
        with self.assertRaisesRegex(UserError, "Unknown close reason 'Aliens'"):
            sub.action_close("2026-01-31", "Aliens")
        with self.assertRaisesRegex(UserError, "Unknown close reason id 999999"):
            sub.action_close("2026-01-31", 999999)
        sub.action_close("2026-01-31", self.reason_price.id)
        self.assertEqual(sub.close_reason_id, self.reason_price)

    def test_close_before_start_of_billed_period_refused(self):
        sub = self._q2c_subscription([(self.plan_seat, 3)])
        self._run(date(2026, 2, 1))
        with self.assertRaisesRegex(UserError, "billed from 2026-02-01"):
            sub.action_close("2026-01-10")

    def test_close_with_policy_none_bills_the_period(self):
        sub = self._q2c_subscription([(self.plan_seat, 3)], proration_policy="none")
        self._run(date(2026, 1, 1))
        sub.action_close(date(2026, 1, 15))
        self.assertFalse(sub.change_ids)
        self.assertEqual(self._run(date(2026, 2, 1))["invoice_ids"], [])

    def test_invalid_transitions(self):
        sub = self._q2c_subscription([(self.plan_seat, 1)], activate=False)
        with self.assertRaisesRegex(UserError, "cannot be paused: it is Draft"):
            sub.action_pause()
        with self.assertRaisesRegex(UserError, "cannot be resumed: it is Draft"):
            sub.action_resume()
        sub.action_activate()
        with self.assertRaisesRegex(UserError, "cannot be activated: it is Active"):
            sub.action_activate()
        with self.assertRaisesRegex(UserError, "cannot be resumed: it is Active"):
            sub.action_resume()
        sub.action_pause(date(2026, 2, 1))
        with self.assertRaisesRegex(UserError, "cannot be paused: it is Paused"):
            sub.action_pause()
        with self.assertRaisesRegex(UserError, "cannot be resumed on 2026-01-15"):
            sub.action_resume(date(2026, 1, 15))
        sub.action_close(date(2026, 2, 1))
        with self.assertRaisesRegex(UserError, "cannot be closed: it is Closed"):
            sub.action_close()
        with self.assertRaisesRegex(ValidationError, "'date' must be a date"):
            self._q2c_subscription([(self.plan_seat, 1)]).action_pause("tomorrow")

    def test_draft_cancel(self):
        sub = self._q2c_subscription([(self.plan_seat, 1)], activate=False)
        sub.action_close(date(2026, 1, 1), "Other")
        self.assertEqual(sub.state, "closed")
        self.assertFalse(sub.next_invoice_date)

    def test_fixed_term_auto_renew_with_uplift(self):
        sub = self._q2c_subscription(
            [(self.plan_seat, 10)],
            end_date=date(2026, 3, 31),
            auto_renew=True,
            renewal_term_months=12,
            renewal_uplift_pct=5.0,
            renewal_notice_days=30,
        )
        self.assertEqual(sub.renewal_notice_date, date(2026, 3, 1))
        self._run(date(2026, 3, 1))
        self.assertEqual(sub.end_date, date(2026, 3, 31))
        invoice = self._invoices(self._run(date(2026, 4, 1)))
        self.assertEqual(sub.end_date, date(2027, 3, 31))
        self.assertEqual(sub.renewal_count, 1)
        self.assertEqual(sub.state, "active")
        self.assertAlmostEqual(sub.line_ids.price_multiplier, 1.05)
        self.assertEqual(invoice.amount_untaxed, 105.0)
        self.assertEqual(sub.mrr, 105.0)
        self.assertTrue(any("Renewed until" in body for body in sub.message_ids.mapped("body")))

    def test_fixed_term_without_renewal_expires(self):
        sub = self._q2c_subscription(
            [(self.plan_seat, 10)],
            end_date=date(2026, 2, 15),
            auto_renew=False,
        )
        self._run(date(2026, 1, 1))
        # The last period is prorated to the end of the term: Feb 1-15 = 15/28 of 100.
        invoice = self._invoices(self._run(date(2026, 2, 1)))
        self.assertEqual(invoice.amount_untaxed, 53.57)
        self.assertEqual(sub.next_invoice_date, date(2026, 2, 16))
        self.assertEqual(self._run(date(2026, 2, 16))["invoice_ids"], [])
        self.assertEqual(sub.state, "closed")
        self.assertEqual(sub.closed_date, date(2026, 2, 15))
        self.assertFalse(sub.next_invoice_date)

    def test_dates_constraints(self):
        with self.assertRaisesRegex(ValidationError, "End Date"):
            self._q2c_subscription([(self.plan_seat, 1)], end_date=date(2025, 1, 1), activate=False)
        with self.assertRaisesRegex(ValidationError, "Trial Until"):
            self._q2c_subscription(
                [(self.plan_seat, 1)], trial_end_date=date(2025, 1, 1), activate=False
            )
        with self.assertRaisesRegex(ValidationError, "Quantity' cannot be negative"):
            self._q2c_subscription([(self.plan_seat, -1)], activate=False)

    def test_billing_terms_locked_once_billed(self):
        sub = self._q2c_subscription([(self.plan_seat, 1)])
        sub.billing_period = "quarter"
        self._run(date(2026, 1, 1))
        with self.assertRaisesRegex(UserError, "cannot change once billed"):
            sub.billing_period = "month"

    def test_form_flow(self):
        form = Form(self.env["q2c.subscription"])
        form.partner_id = self.partner
        form.start_date = date(2026, 1, 1)
        with form.line_ids.new() as line:
            line.product_id = self.product_seat
            line.quantity = 4
        sub = form.save()
        self.assertEqual(sub.line_ids.price_plan_id, self.plan_seat)
        self.assertEqual(sub.recurring_total, 40.0)
        sub.action_activate()
        self.assertEqual(sub.state, "active")

    def test_tracking_of_commercial_terms(self):
        tracked = {
            name
            for name, field in self.env["q2c.subscription"]._fields.items()
            if getattr(field, "tracking", False)
        }
        self.assertTrue(
            {
                "partner_id",
                "state",
                "end_date",
                "billing_period",
                "auto_renew",
                "proration_policy",
                "pricelist_id",
                "renewal_uplift_pct",
                "close_reason_id",
            }
            <= tracked
        )
