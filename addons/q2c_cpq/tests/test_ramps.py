from datetime import date

from freezegun import freeze_time

from odoo import Command
from odoo.exceptions import UserError, ValidationError
from odoo.tests import Form, tagged

from .subscription_common import Q2cCpqSubscriptionCommon


@tagged("post_install", "-at_install")
class TestQ2cRamps(Q2cCpqSubscriptionCommon):
    """Ramped lines: quantities and prices per period of the term, previewed and confirmed into
    dated subscription lines. Every figure below is computed by hand."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.seat_yearly = cls._product("Seat (yearly)")
        cls.plan_seat_yearly = cls._plan(
            cls.seat_yearly, "per_unit", unit_price=100.0, recurring_period="year"
        )

    def _ramped_quote(self, product, steps, **vals):
        """A new quote with one ramped line; steps: [(months, quantity, {price_unit|discount})]."""
        order = self._quote(
            [(product, steps[0][1])],
            q2c_start_date=date(2026, 1, 1),
            **vals,
        )
        line = order.order_line
        line.write(
            {
                "q2c_ramp_step_ids": [
                    Command.create({"sequence": index, "months": months, "quantity": qty, **extra})
                    for index, (months, qty, extra) in enumerate(steps)
                ]
            }
        )
        return order, line

    def _seat_ramp(self):
        # Year 1: 10 seats at 100.00, year 2: 20 at 95.00 (typed as a price), year 3: 30 at
        # 90.00 (typed as 10% off). Billed yearly over 36 months.
        return self._ramped_quote(
            self.seat_yearly,
            [(12, 10, {}), (12, 20, {"price_unit": 95.0}), (12, 30, {"discount": 10.0})],
            q2c_billing_period="year",
            q2c_term_months=36,
        )

    def _schedule(self, preview):
        return [(row["date"], row["amount"]) for row in preview["invoice_schedule"]]

    @freeze_time("2025-12-15")
    def test_ramp_steps_prices_and_dates(self):
        order, line = self._seat_ramp()
        steps = line.q2c_ramp_step_ids.sorted("sequence")
        self.assertEqual(steps.mapped("discount"), [0.0, 5.0, 10.0])
        self.assertEqual(steps.mapped("price_unit"), [100.0, 95.0, 90.0])
        self.assertEqual(steps.mapped("price_subtotal"), [1000.0, 1900.0, 2700.0])
        # MRR: 1000 / 12 = 83.33, 1900 / 12 = 158.33, 2700 / 12 = 225.00
        self.assertEqual(steps.mapped("mrr"), [83.33, 158.33, 225.0])
        self.assertEqual(
            [(s.date_start, s.date_end) for s in steps],
            [
                (date(2026, 1, 1), date(2026, 12, 31)),
                (date(2027, 1, 1), date(2027, 12, 31)),
                (date(2028, 1, 1), date(2028, 12, 31)),
            ],
        )
        # The quote line shows the first step; the quote's steps are listed on the order.
        self.assertEqual((line.product_uom_qty, line.discount), (10.0, 0.0))
        self.assertEqual(order.amount_untaxed, 1000.0)
        self.assertEqual(order.q2c_ramp_step_ids, steps)

    @freeze_time("2025-12-15")
    def test_ramp_preview_yearly(self):
        order, __ = self._seat_ramp()
        sequence = self.env["ir.sequence"].search([("code", "=", "q2c.subscription")])
        number = sequence.number_next_actual
        preview = order.q2c_preview()
        sequence.invalidate_recordset(["number_next_actual"])
        self.assertEqual(sequence.number_next_actual, number, "the preview draws no number")
        self.assertEqual(
            self._schedule(preview),
            [("2026-01-01", 1000.0), ("2027-01-01", 1900.0), ("2028-01-01", 2700.0)],
        )
        self.assertEqual(preview["tcv"], 5600.0)
        self.assertEqual(preview["mrr_delta"], 83.33)
        self.assertEqual(preview["arr_delta"], 999.96)
        self.assertEqual(
            preview["mrr_schedule"],
            [
                {
                    "date": "2026-01-01",
                    "mrr": 83.33,
                    "arr": 999.96,
                    "mrr_delta": 83.33,
                    "arr_delta": 999.96,
                },
                {
                    "date": "2027-01-01",
                    "mrr": 158.33,
                    "arr": 1899.96,
                    "mrr_delta": 75.0,
                    "arr_delta": 900.0,
                },
                {
                    "date": "2028-01-01",
                    "mrr": 225.0,
                    "arr": 2700.0,
                    "mrr_delta": 66.67,
                    "arr_delta": 800.04,
                },
            ],
        )
        self.assertFalse(
            self.env["q2c.subscription"].search([("partner_id", "=", self.partner.id)])
        )

    @freeze_time("2025-12-15")
    def test_ramp_preview_monthly(self):
        # 10.00 a seat a month: 12 x 100.00, then 12 x (20 x 10.00 - 5%) = 12 x 190.00, then
        # 12 x (30 x 10.00 - 10%) = 12 x 270.00; TCV 1200 + 2280 + 3240 = 6720.00.
        order, __ = self._ramped_quote(
            self.seat,
            [(12, 10, {}), (12, 20, {"discount": 5.0}), (12, 30, {"price_unit": 9.0})],
            q2c_term_months=36,
        )
        preview = order.q2c_preview()
        schedule = self._schedule(preview)
        self.assertEqual(len(schedule), 36)
        self.assertEqual(schedule[0], ("2026-01-01", 100.0))
        self.assertEqual(schedule[11], ("2026-12-01", 100.0))
        self.assertEqual(schedule[12], ("2027-01-01", 190.0))
        self.assertEqual(schedule[24], ("2028-01-01", 270.0))
        self.assertEqual(schedule[35], ("2028-12-01", 270.0))
        self.assertEqual(preview["tcv"], 6720.0)
        self.assertEqual(
            [(r["date"], r["mrr"], r["mrr_delta"]) for r in preview["mrr_schedule"]],
            [
                ("2026-01-01", 100.0, 100.0),
                ("2027-01-01", 190.0, 90.0),
                ("2028-01-01", 270.0, 80.0),
            ],
        )

    @freeze_time("2026-01-01")
    def test_ramp_confirmed_into_dated_subscription_lines(self):
        order, line = self._seat_ramp()
        order.action_confirm()
        sub = order.q2c_subscription_id
        self.assertEqual((sub.start_date, sub.end_date), (date(2026, 1, 1), date(2028, 12, 31)))
        self.assertEqual(
            [
                (ln.start_date, ln.end_date, ln.quantity, ln.discount, ln.period_amount)
                for ln in sub.line_ids.sorted(lambda ln: ln.start_date)
            ],
            [
                (date(2026, 1, 1), date(2026, 12, 31), 10.0, 0.0, 1000.0),
                (date(2027, 1, 1), date(2027, 12, 31), 20.0, 5.0, 1900.0),
                (date(2028, 1, 1), False, 30.0, 10.0, 2700.0),
            ],
        )
        self.assertEqual(sub.line_ids.price_plan_id, self.plan_seat_yearly)
        self.assertEqual(line.q2c_subscription_line_id.start_date, date(2026, 1, 1))
        # Only the step in effect counts in the subscription's MRR.
        self.assertEqual(sub.mrr, 83.33)
        self.assertEqual(sub.arr, 999.96)
        # The subscription bills each year at its step.
        self.assertEqual(sub.preview_invoice("2026-01-01")["untaxed"], 1000.0)
        self.assertEqual(sub.preview_invoice("2027-01-01")["untaxed"], 1900.0)
        self.assertEqual(sub.preview_invoice("2028-01-01")["untaxed"], 2700.0)

    @freeze_time("2025-12-15")
    def test_evergreen_ramp_last_step_runs_on(self):
        order, line = self._ramped_quote(self.seat, [(6, 5, {}), (6, 8, {})], q2c_term_months=0)
        self.assertFalse(line._q2c_ramp_steps()[-1].date_end)
        preview = order.q2c_preview()
        # Evergreen: one year previewed, 6 x 50.00 then 6 x 80.00.
        self.assertEqual(preview["tcv"], 780.0)
        order.action_confirm()
        lines = order.q2c_subscription_id.line_ids.sorted("start_date")
        self.assertEqual(
            [(ln.start_date, ln.end_date, ln.quantity) for ln in lines],
            [(date(2026, 1, 1), date(2026, 6, 30), 5.0), (date(2026, 7, 1), False, 8.0)],
        )

    @freeze_time("2025-12-15")
    def test_ramp_must_cover_the_term(self):
        order, __ = self._ramped_quote(
            self.seat_yearly,
            [(12, 10, {}), (12, 20, {})],
            q2c_billing_period="year",
            q2c_term_months=36,
        )
        message = "the ramp steps last 24 months, the term 36 months"
        with self.assertRaisesRegex(UserError, message):
            order.action_confirm()
        self.assertIn(message, order.q2c_preview_html)
        self.assertEqual(order.q2c_preview()["invoice_schedule"], [])

    @freeze_time("2025-12-15")
    def test_ramp_only_on_recurring_lines_of_new_and_renewal_quotes(self):
        order, __ = self._ramped_quote(self.setup_fee, [(12, 1, {})], q2c_term_months=12)
        with self.assertRaisesRegex(UserError, "only recurring lines can be ramped"):
            order.action_confirm()
        __, sub = self._subscribe()
        amendment = self._quote([], q2c_quote_type="amendment", q2c_subscription_id=sub.id)
        self._line(amendment, self.seat).write(
            {"q2c_ramp_step_ids": [Command.create({"months": 12, "quantity": 12})]}
        )
        with self.assertRaisesRegex(UserError, "ramps apply to new and renewal quotes"):
            amendment.action_confirm()

    def test_bad_steps_are_refused(self):
        __, line = self._seat_ramp()
        first, second, third = line._q2c_ramp_steps()
        with self.assertRaisesRegex(ValidationError, "'Months' must be at least 1"):
            first.months = 0
        with self.assertRaisesRegex(ValidationError, "'Quantity' must be above 0"):
            second.quantity = 0
        with self.assertRaisesRegex(ValidationError, "a unit price above the price plan's"):
            third.price_unit = 120.0

    @freeze_time("2025-12-15")
    def test_quantity_rules_hold_in_every_ramp_step(self):
        """A ramp cannot slip past a quantity rule: bounds and ratios hold at the start of every
        step; a ramped line is mended in its ramp (no automatic fix), a plain one is fixed."""
        rules = self.env["q2c.config.rule"]
        bounds = rules.create(
            {
                "name": "Yearly seats: 10 to 25",
                "rule_type": "quantity",
                "product_ids": [Command.set(self.seat_yearly.ids)],
                "min_quantity": 10,
                "max_quantity": 25,
            }
        )
        order, line = self._seat_ramp()  # 10, 20, 30 seats from 2026, 2027, 2028
        self.assertEqual(
            [issue["message"] for issue in order.q2c_check_configuration()],
            ["Seat (yearly): the quantity 30 from 01/01/2028 (ramp step) is above the maximum 25."],
        )
        self.assertTrue(order.q2c_config_has_errors)
        self.assertFalse(order.q2c_config_issues[0]["fix_label"])
        first, second, third = line._q2c_ramp_steps()
        third.quantity = 25
        self.assertEqual(order.q2c_check_configuration(), [])
        self.assertFalse(order.q2c_config_has_errors)
        second.quantity = 8
        self.assertEqual(
            [issue["message"] for issue in order.q2c_check_configuration()],
            ["Seat (yearly): the quantity 8 from 01/01/2027 (ramp step) is below the minimum 10."],
        )
        bounds.active = False
        # One support unit per ten seats (rounded up) on a plain support line: year 3 (25
        # seats, 3 needed) is the largest shortfall, and the fix covers every year.
        rules.create(
            {
                "name": "Support per ten yearly seats",
                "rule_type": "quantity",
                "product_ids": [Command.set(self.seat_yearly.ids)],
                "target_product_ids": [Command.set(self.support.ids)],
                "ratio": 0.1,
            }
        )
        order.order_line = [Command.create({"product_id": self.support.id, "product_uom_qty": 1})]
        self.assertEqual(
            [issue["message"] for issue in order.q2c_check_configuration()],
            ["Support: 3 needed for 25 Seat (yearly) from 01/01/2028 (ramp step), 1 on the quote."],
        )
        self.assertEqual(order.q2c_config_issues[0]["fix_label"], "Set Support to 3")
        order.action_q2c_apply_fix(order.q2c_config_issues[0]["key"])
        support = order.order_line.filtered(lambda ln: ln.product_id == self.support)
        self.assertEqual(support.product_uom_qty, 3)
        self.assertEqual(order.q2c_check_configuration(), [])
        self.assertEqual(first.quantity, 10)  # the ramp itself is left as typed

    @freeze_time("2025-12-15")
    def test_ramp_starts_of_several_lines(self):
        """The months quantity rules are checked at: the quote's start and the first month of
        every later step of any ramped line, each with that step's first day."""
        __, yearly = self._seat_ramp()  # steps of 12 months from 2026-01-01
        order, half = self._ramped_quote(self.seat, [(6, 5, {}), (30, 8, {})], q2c_term_months=36)
        order.order_line = [Command.create({"product_id": self.support.id, "product_uom_qty": 1})]
        starts = self.env["q2c.config.rule"]._q2c_ramp_starts(order.order_line | yearly)
        self.assertEqual(
            list(starts.items()),
            [
                (0, False),
                (6, date(2026, 7, 1)),
                (12, date(2027, 1, 1)),
                (24, date(2028, 1, 1)),
            ],
        )
        self.assertEqual(half._q2c_ramp_steps()[1].date_start, date(2026, 7, 1))
        # No ramped line: the quote's start only.
        support = order.order_line - half
        self.assertEqual(self.env["q2c.config.rule"]._q2c_ramp_starts(support), {0: False})

    @freeze_time("2025-12-15")
    def test_step_discount_needs_approval_and_an_edit_asks_again(self):
        self.env["q2c.approval.rule"].create(
            {
                "name": "Discount over 8%",
                "max_discount": 8.0,
                "approver_group_id": self.env.ref("sales_team.group_sale_manager").id,
            }
        )
        order, line = self._seat_ramp()
        # Only year 3 is discounted above 8% (10%): the quote needs an approval.
        self.assertEqual(order.q2c_approval_state, "pending")
        order.action_q2c_request_approval()
        order.action_q2c_approve()
        self.assertEqual(order.q2c_approval_state, "approved")
        line._q2c_ramp_steps()[1].quantity = 25
        self.assertEqual(order.q2c_approval_state, "pending")
        self.assertIn("Ramp", order.message_ids[0].body)

    @freeze_time("2026-11-20")
    def test_renewal_with_ramp(self):
        __, sub = self._subscribe(q2c_auto_renew=False)
        renewal = self._quote(
            [], q2c_quote_type="renewal", q2c_subscription_id=sub.id, q2c_term_months=24
        )
        seat = self._line(renewal, self.seat)
        seat.write(
            {
                "q2c_ramp_step_ids": [
                    Command.create({"sequence": 1, "months": 12, "quantity": 10, "discount": 10}),
                    Command.create({"sequence": 2, "months": 12, "quantity": 15, "discount": 10}),
                ]
            }
        )
        # 2027: platform 100 + 10 x 10 - 10% = 190.00; 2028: 100 + 15 x 10 - 10% = 235.00
        preview = renewal.q2c_preview()
        schedule = self._schedule(preview)
        self.assertEqual(schedule[0], ("2027-01-01", 190.0))
        self.assertEqual(schedule[12], ("2028-01-01", 235.0))
        self.assertEqual(preview["tcv"], 5100.0)  # 12 x 190 + 12 x 235
        self.assertEqual(
            [(r["date"], r["mrr_delta"]) for r in preview["mrr_schedule"]],
            [("2027-01-01", 0.0), ("2028-01-01", 45.0)],
        )
        renewal.action_confirm()
        self.assertEqual(sub.end_date, date(2028, 12, 31))
        seats = self._line(sub, self.seat).sorted(lambda ln: ln.start_date or date.min)
        self.assertEqual(
            [(ln.start_date, ln.end_date, ln.quantity) for ln in seats],
            [
                (False, date(2026, 12, 31), 10.0),
                (date(2027, 1, 1), date(2027, 12, 31), 10.0),
                (date(2028, 1, 1), False, 15.0),
            ],
        )
        self.assertEqual(sub.preview_invoice("2028-01-01")["untaxed"], 235.0)
        # Today (2026-11-20) only the current term's lines count.
        self.assertEqual(sub.mrr, 190.0)

    @freeze_time("2026-11-20")
    def test_priced_renewal_does_not_double_count_mrr(self):
        __, sub = self._subscribe(q2c_auto_renew=False)
        self.assertEqual(sub.mrr, 190.0)
        renewal = self._quote(
            [],
            q2c_quote_type="renewal",
            q2c_subscription_id=sub.id,
            q2c_term_months=12,
            q2c_renewal_uplift=5.0,
        )
        renewal.action_confirm()
        # The uplifted lines start on 2027-01-01: today's MRR is still the current term's.
        self.assertEqual(sub.mrr, 190.0)
        self.assertEqual(sub.arr, 2280.0)
        with freeze_time("2027-01-01"):
            self.env["q2c.subscription"]._cron_q2c_refresh_amounts()
            self.env.invalidate_all()
            self.assertEqual(sub.mrr, 199.5)

    @freeze_time("2025-12-15")
    def test_ramp_on_the_quote_document(self):
        order, __ = self._seat_ramp()
        html, __ = self.env["ir.actions.report"]._render_qweb_html(
            "sale.action_report_saleorder", order.ids
        )
        text = html.decode()
        self.assertIn("o_q2c_ramp_table", text)
        for expected in (
            "2027-01-01",
            "2027-12-31",
            "$\xa095.00",
            "$\xa01,900.00",
            "$\xa02,700.00",
            "$\xa05,600.00",  # TCV
            "$\xa0158.33",  # MRR from year 2
        ):
            self.assertIn(expected, text)

    @freeze_time("2025-12-15")
    def test_ramp_dialog_form(self):
        order = self._quote([(self.seat, 10)], q2c_start_date=date(2026, 1, 1), q2c_term_months=24)
        action = order.order_line.action_q2c_open_ramp()
        self.assertEqual(action["res_id"], order.order_line.id)
        with Form(order.order_line, view=action["views"][0][0]) as form:
            with form.q2c_ramp_step_ids.new() as step:
                step.months = 12
                step.quantity = 10
            with form.q2c_ramp_step_ids.new() as step:
                step.months = 12
                step.quantity = 20
                step.price_unit = 9.5
                self.assertEqual(step.discount, 5.0)
                self.assertEqual(step.price_subtotal, 190.0)
        line = order.order_line
        self.assertEqual(line.q2c_ramp_step_ids.mapped("quantity"), [10.0, 20.0])
        self.assertEqual(line.q2c_ramp_step_ids.mapped("discount"), [0.0, 5.0])
        self.assertEqual(order.q2c_preview()["tcv"], 1200.0 + 12 * 190.0)
