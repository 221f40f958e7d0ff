from datetime import date

from freezegun import freeze_time

from odoo.exceptions import UserError
from odoo.tests import Form, tagged

from .subscription_common import Q2cCpqSubscriptionCommon


@tagged("post_install", "-at_install")
class TestQ2cQuoteTypes(Q2cCpqSubscriptionCommon):
    """Each quote type end to end: preview numbers computed by hand, then the subscription."""

    def _schedule(self, preview):
        return [(row["date"], row["amount"]) for row in preview["invoice_schedule"]]

    # new ----------------------------------------------------------------

    @freeze_time("2025-12-15")
    def test_new_quote_preview_and_subscription(self):
        order = self._quote(
            [
                (self.platform, 1),
                (self.seat, 10, {"discount": 10.0}),
                (self.setup_fee, 1),
                (self.training, 1),
            ],
            q2c_start_date=date(2026, 1, 1),
            q2c_term_months=12,
        )
        # 100.00 + 10 x 10.00 - 10% + 250.00 one-time + 800.00 training (no plan)
        self.assertEqual(order.amount_untaxed, 1240.0)
        preview = order.q2c_preview()
        # First invoice: the first month (190.00), the setup fee and the training; then 11 x 190
        expected = [("2026-01-01", 1240.0)] + [
            (f"2026-{month:02d}-01", 190.0) for month in range(2, 13)
        ]
        self.assertEqual(self._schedule(preview), expected)
        self.assertEqual(preview["mrr_delta"], 190.0)
        self.assertEqual(preview["arr_delta"], 2280.0)
        self.assertEqual(preview["tcv"], 3330.0)  # 1240 + 11 x 190
        self.assertEqual(preview["currency"], self.usd.name)
        # No product of this quote is a performance obligation: an empty revenue schedule
        # (q2c_revrec installed) or none (q2c_revrec absent).
        self.assertFalse(preview.get("revenue_schedule"))
        # The preview leaves nothing behind.
        self.assertFalse(
            self.env["q2c.subscription"].search([("partner_id", "=", self.partner.id)])
        )

        order.action_confirm()
        sub = order.q2c_subscription_id
        self.assertEqual(sub.state, "active")
        self.assertEqual(sub.sale_order_id, order)
        self.assertEqual((sub.start_date, sub.end_date), (date(2026, 1, 1), date(2026, 12, 31)))
        self.assertEqual((sub.billing_period, sub.billing_interval), ("month", 1))
        self.assertEqual(
            sorted((ln.product_id.name, ln.quantity, ln.discount) for ln in sub.line_ids),
            [("Platform", 1.0, 0.0), ("Seat", 10.0, 10.0), ("Setup", 1.0, 0.0)],
        )
        self.assertEqual(sub.mrr, 190.0)
        self.assertEqual(sub.preview_invoice("2026-01-01")["untaxed"], 440.0)
        self.assertEqual(sub.preview_invoice("2026-02-01")["untaxed"], 190.0)
        # The subscription invoices the plan lines, the order only the training.
        seat_line = self._line(order, self.seat)
        self.assertEqual(seat_line.q2c_subscription_line_id, self._line(sub, self.seat))
        self.assertEqual(seat_line.qty_to_invoice, 0.0)
        self.assertEqual(self._line(order, self.training).qty_to_invoice, 1.0)

    @freeze_time("2026-03-10")
    def test_new_quote_quarterly_evergreen(self):
        order = self._quote([(self.seat, 4)], q2c_billing_period="quarter", q2c_term_months=0)
        self.assertEqual(order.amount_untaxed, 120.0)  # 4 x 10.00 x 3 months
        preview = order.q2c_preview()
        # Evergreen: previewed over one year from today.
        self.assertEqual(
            self._schedule(preview),
            [
                ("2026-03-10", 120.0),
                ("2026-06-10", 120.0),
                ("2026-09-10", 120.0),
                ("2026-12-10", 120.0),
            ],
        )
        self.assertEqual(preview["mrr_delta"], 40.0)
        self.assertEqual(preview["tcv"], 480.0)
        order.action_confirm()
        sub = order.q2c_subscription_id
        self.assertFalse(sub.end_date)
        self.assertEqual((sub.start_date, sub.billing_period), (date(2026, 3, 10), "quarter"))

    @freeze_time("2026-02-01")
    def test_salesperson_without_billing_rights_creates_the_subscription(self):
        salesman = self.env["res.users"].create(
            {
                "name": "Sally Sales",
                "login": "q2c_cpq_sally",
                "email": "sally@q2c.example",
                "groups_id": [(6, 0, [self.env.ref("sales_team.group_sale_salesman").id])],
            }
        )
        self.assertFalse(salesman.has_group("q2c_billing.group_q2c_billing_user"))
        order = self._quote([(self.seat, 3)], user_id=salesman.id).with_user(salesman)
        self.assertEqual(order.q2c_preview()["mrr_delta"], 30.0)
        order.action_confirm()
        sub = order.q2c_subscription_id
        self.assertEqual(sub.name, order.sudo().q2c_subscription_id.name)
        self.assertEqual(sub.sudo().state, "active")

    @freeze_time("2026-01-16")
    def test_amendment_form_loads_the_subscription_lines(self):
        __, sub = self._subscribe()
        order_form = Form(self.env["sale.order"])
        order_form.partner_id = self.partner
        order_form.q2c_quote_type = "amendment"
        order_form.q2c_subscription_id = sub
        self.assertEqual(len(order_form.order_line), 2)
        with order_form.order_line.edit(1) as line:
            self.assertEqual(line.product_id, self.seat)
            self.assertEqual(line.q2c_previous_quantity, 10.0)
            line.product_uom_qty = 12
        order = order_form.save()
        self.assertEqual(self._line(order, self.seat).q2c_quantity_delta, 2.0)
        self.assertEqual(
            self._line(order, self.seat).q2c_subscription_line_id, self._line(sub, self.seat)
        )

    def test_quote_without_recurring_lines_creates_no_subscription(self):
        order = self._quote([(self.training, 2), (self.setup_fee, 1)])
        preview = order.q2c_preview()
        self.assertEqual(preview["mrr_delta"], 0.0)
        self.assertEqual(preview["tcv"], 1850.0)
        order.action_confirm()
        self.assertFalse(order.q2c_subscription_id)

    def test_manual_price_on_a_plan_line_is_refused(self):
        order = self._quote([(self.seat, 10)])
        self._line(order, self.seat).price_unit = 8.0
        with self.assertRaisesRegex(UserError, "unit price was changed by hand"):
            order.action_confirm()

    # amendment ----------------------------------------------------------

    @freeze_time("2026-01-16")
    def test_amendment_changes_quantities_with_proration(self):
        __, sub = self._subscribe()
        self.env["q2c.billing.run"].run_billing("2026-01-01")
        amendment = self._quote(
            [],
            q2c_quote_type="amendment",
            q2c_subscription_id=sub.id,
            q2c_start_date=date(2026, 1, 16),
        )
        seat_line = self._line(amendment, self.seat)
        # The quote starts from the subscription's lines.
        self.assertEqual(
            sorted(
                (ln.product_id.name, ln.product_uom_qty, ln.discount) for ln in amendment.order_line
            ),
            [("Platform", 1.0, 0.0), ("Seat", 10.0, 10.0)],
        )
        self.assertEqual(seat_line.q2c_previous_quantity, 10.0)
        seat_line.product_uom_qty = 15
        seat_line.discount = 10.0
        self.assertEqual(seat_line.q2c_quantity_delta, 5.0)
        preview = amendment.q2c_preview()
        # Jan 16-31 = 16/31 of January: credit 90.00 x 16/31 = 46.45, charge 135.00 x 16/31 = 69.68
        self.assertEqual(self._schedule(preview)[0], ("2026-01-16", 23.23))
        # Then the new recurring total (100 + 135) on each billing date until the end of term.
        self.assertEqual(
            self._schedule(preview)[1:], [(f"2026-{month:02d}-01", 235.0) for month in range(2, 13)]
        )
        self.assertEqual(preview["mrr_delta"], 45.0)
        self.assertEqual(preview["arr_delta"], 540.0)
        self.assertEqual(preview["tcv"], 2608.23)  # 23.23 + 11 x 235
        amendment.action_confirm()
        self.assertEqual(self._line(sub, self.seat).quantity, 15.0)
        self.assertEqual(sub.mrr, 235.0)
        self.assertEqual(sub.change_ids.mapped("new_quantity"), [15.0])

    @freeze_time("2026-01-16")
    def test_amendment_adds_and_removes_lines(self):
        __, sub = self._subscribe()
        self.env["q2c.billing.run"].run_billing("2026-01-01")
        amendment = self._quote(
            [],
            q2c_quote_type="amendment",
            q2c_subscription_id=sub.id,
            q2c_start_date=date(2026, 2, 1),
        )
        self._line(amendment, self.platform).product_uom_qty = 0
        amendment.order_line = [
            (0, 0, {"product_id": self.support.id, "product_uom_qty": 2, "discount": 20.0})
        ]
        preview = amendment.q2c_preview()
        # From Feb 1 (a window not billed yet): no proration, 90 + 2 x 25 x 80% = 130 a month
        self.assertEqual(self._schedule(preview)[0], ("2026-02-01", 130.0))
        self.assertEqual(len(preview["invoice_schedule"]), 11)
        self.assertEqual(preview["mrr_delta"], -60.0)  # -100 + 40
        amendment.action_confirm()
        platform_line = self._line(sub, self.platform)
        self.assertEqual(platform_line.end_date, date(2026, 1, 31))
        support_line = self._line(sub, self.support)
        self.assertEqual((support_line.quantity, support_line.discount), (2.0, 20.0))
        self.assertEqual(self._line(amendment, self.support).q2c_subscription_line_id, support_line)
        self.assertEqual(sub.preview_invoice("2026-02-01")["untaxed"], 130.0)

    def test_amendment_needs_a_subscription(self):
        amendment = self._quote([(self.seat, 1)], q2c_quote_type="amendment")
        with self.assertRaisesRegex(UserError, "set the field 'Subscription'"):
            amendment.action_confirm()

    # renewal ------------------------------------------------------------

    @freeze_time("2026-11-20")
    def test_renewal_with_uplift(self):
        __, sub = self._subscribe(q2c_auto_renew=False)
        renewal = self._quote(
            [],
            q2c_quote_type="renewal",
            q2c_subscription_id=sub.id,
            q2c_term_months=12,
            q2c_renewal_uplift=5.0,
        )
        # Renewed prices: platform 105.00, seats 10 x 10.50 - 10% = 94.50
        self.assertEqual(self._line(renewal, self.platform).price_unit, 105.0)
        self.assertEqual(renewal.amount_untaxed, 199.5)
        preview = renewal.q2c_preview()
        self.assertEqual(
            self._schedule(preview), [(f"2027-{month:02d}-01", 199.5) for month in range(1, 13)]
        )
        self.assertEqual(preview["mrr_delta"], 9.5)
        self.assertEqual(preview["arr_delta"], 114.0)
        self.assertEqual(preview["tcv"], 2394.0)
        # The preview changed nothing on the subscription.
        self.assertEqual(sub.end_date, date(2026, 12, 31))
        self.assertEqual(len(sub.line_ids), 2)
        renewal.action_confirm()
        self.assertEqual(sub.end_date, date(2027, 12, 31))
        self.assertEqual(sub.preview_invoice("2026-12-01")["untaxed"], 190.0)
        self.assertEqual(sub.preview_invoice("2027-01-01")["untaxed"], 199.5)
        renewed = sub.line_ids.filtered(lambda ln: ln.start_date == date(2027, 1, 1))
        self.assertEqual(sorted(renewed.mapped("price_multiplier")), [1.05, 1.05])

    @freeze_time("2026-11-20")
    def test_renewal_without_change_extends_the_term(self):
        __, sub = self._subscribe(q2c_auto_renew=False)
        renewal = self._quote(
            [],
            q2c_quote_type="renewal",
            q2c_subscription_id=sub.id,
            q2c_term_months=24,
        )
        preview = renewal.q2c_preview()
        self.assertEqual(len(preview["invoice_schedule"]), 24)
        self.assertEqual(preview["mrr_delta"], 0.0)
        self.assertEqual(preview["tcv"], 4560.0)  # 24 x 190
        renewal.action_confirm()
        self.assertEqual(sub.end_date, date(2028, 12, 31))
        self.assertEqual(len(sub.line_ids), 2)

    def test_renewal_of_an_evergreen_subscription_is_refused(self):
        __, sub = self._subscribe(term=0)
        renewal = self._quote(
            [],
            q2c_quote_type="renewal",
            q2c_subscription_id=sub.id,
            q2c_term_months=12,
        )
        with self.assertRaisesRegex(UserError, "cannot be renewed"):
            renewal.action_confirm()

    # cancellation -------------------------------------------------------

    @freeze_time("2026-01-20")
    def test_cancellation_closes_the_subscription(self):
        __, sub = self._subscribe()
        self.env["q2c.billing.run"].run_billing("2026-01-01")
        cancellation = self._quote(
            [],
            q2c_quote_type="cancellation",
            q2c_subscription_id=sub.id,
            q2c_start_date=date(2026, 1, 20),
            q2c_close_reason_id=self.reason.id,
        )
        self.assertEqual(cancellation.order_line.mapped("product_uom_qty"), [0.0, 0.0])
        self.assertEqual(cancellation.amount_untaxed, 0.0)
        preview = cancellation.q2c_preview()
        # Jan 21-31 unused = 11/31: platform 100 -> 35.48, seats 90 -> 31.94
        self.assertEqual(self._schedule(preview), [("2026-01-21", -67.42)])
        self.assertEqual(preview["mrr_delta"], -190.0)
        self.assertEqual(preview["arr_delta"], -2280.0)
        self.assertEqual(preview["tcv"], -67.42)
        cancellation.action_confirm()
        self.assertEqual(sub.state, "closed")
        self.assertEqual(sub.closed_date, date(2026, 1, 20))
        self.assertEqual(sub.close_reason_id, self.reason)

    def test_subscription_of_another_customer_is_refused(self):
        __, sub = self._subscribe()
        other = self.env["res.partner"].create({"name": "Someone else"})
        order = self.env["sale.order"].create(
            {
                "partner_id": other.id,
                "q2c_quote_type": "cancellation",
                "q2c_subscription_id": sub.id,
            }
        )
        with self.assertRaisesRegex(UserError, "belongs to"):
            order.action_confirm()
