from odoo import Command
from odoo.tests import Form, tagged

from .common import Q2cCpqCommon


@tagged("post_install", "-at_install")
class TestQ2cQuotePricing(Q2cCpqCommon):
    """Price plans price the quote lines: a recurring plan for one billing period of the quote."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env["q2c.config.rule"].search([]).active = False
        cls.env["q2c.approval.rule"].search([]).active = False
        cls.seat = cls._create_product("Seat", 1.0)
        cls.api = cls._create_product("API Calls", 0.0)
        cls.setup_fee = cls._create_product("Setup", 1.0)
        cls.plan_seat = cls._create_plan(cls.seat, "per_unit", unit_price=20.0)
        # TIER-STRIPE-02: graduated 1-5 at 7.00, 6-10 at 6.50, 11+ at 6.00 (monthly)
        cls.plan_platform = cls._create_plan(
            cls.platform, "graduated", tiers=[(5, 7.0), (10, 6.5), (0, 6.0)]
        )
        cls.metric_api = cls.env["q2c.usage.metric"].create(
            {
                "name": "API calls",
                "code": "q2c_cpq_api_calls",
                "aggregation": "sum",
            }
        )
        cls.plan_api = cls._create_plan(
            cls.api, "per_unit", charge_type="usage", unit_price=0.01, metric_id=cls.metric_api.id
        )
        cls.plan_setup = cls._create_plan(
            cls.setup_fee, "flat", charge_type="one_time", flat_price=1500.0
        )

    def test_recurring_line_priced_per_billing_period(self):
        order = self._create_order([(self.seat, 10)])
        line = order.order_line
        self.assertEqual(line.q2c_price_plan_id, self.plan_seat)
        self.assertEqual(line.q2c_charge_type, "recurring")
        self.assertEqual(line.price_unit, 20.0)
        order.q2c_billing_period = "year"
        self.assertEqual(line.price_unit, 240.0)
        self.assertEqual(order.amount_untaxed, 2400.0)
        order.q2c_billing_period = "quarter"
        order.q2c_billing_interval = 2
        self.assertEqual(line.price_unit, 120.0)

    def test_graduated_tiers_exact_to_the_cent(self):
        order = self._create_order([(self.platform, 6)])
        line = order.order_line
        # 5 x 7.00 + 1 x 6.50 = 41.50; the unit price shown is 6.92, the total stays 41.50
        self.assertEqual(line.price_unit, 6.92)
        self.assertEqual(line.price_subtotal, 41.5)
        self.assertEqual(order.amount_untaxed, 41.5)
        line.product_uom_qty = 25  # 35 + 32.50 + 90 = 157.50
        self.assertEqual(line.price_subtotal, 157.5)
        line.discount = 10
        self.assertEqual(line.price_subtotal, 141.75)

    def test_manual_price_wins(self):
        order = self._create_order([(self.platform, 6)])
        order.order_line.price_unit = 6.0
        self.assertEqual(order.amount_untaxed, 36.0)

    def test_usage_and_one_time(self):
        order = self._create_order([(self.api, 100000), (self.setup_fee, 1)])
        api_line = self._line(order, self.api)
        setup_line = self._line(order, self.setup_fee)
        self.assertEqual((api_line.q2c_charge_type, api_line.price_unit), ("usage", 0.0))
        self.assertEqual((setup_line.q2c_charge_type, setup_line.price_unit), ("one_time", 1500.0))
        order.q2c_billing_period = "year"
        self.assertEqual(setup_line.price_unit, 1500.0)

    def test_product_without_plan_keeps_list_price(self):
        order = self._create_order([(self.training, 2)])
        self.assertFalse(order.order_line.q2c_price_plan_id)
        self.assertEqual(order.amount_untaxed, 1600.0)

    def test_customer_specific_plan(self):
        special = self._create_plan(
            self.seat, "per_unit", unit_price=15.0, partner_id=self.partner.id
        )
        order = self._create_order([(self.seat, 10)])
        self.assertEqual(order.order_line.q2c_price_plan_id, special)
        self.assertEqual(order.amount_untaxed, 150.0)

    def test_template_carries_the_subscription_plan(self):
        template = self.env["sale.order.template"].create(
            {
                "name": "Annual SaaS",
                "q2c_billing_period": "year",
                "q2c_term_months": 36,
                "q2c_auto_renew": True,
                "sale_order_template_line_ids": [
                    Command.create({"product_id": self.seat.id, "product_uom_qty": 5}),
                ],
            }
        )
        order_form = Form(self.env["sale.order"])
        order_form.partner_id = self.partner
        order_form.sale_order_template_id = template
        order = order_form.save()
        self.assertEqual(
            (order.q2c_billing_period, order.q2c_term_months, order.q2c_auto_renew),
            ("year", 36, True),
        )
        self.assertEqual(order.order_line.price_unit, 240.0)
        self.assertEqual(order.amount_untaxed, 1200.0)
        order.q2c_start_date = "2026-03-01"
        self.assertEqual(str(order.q2c_end_date), "2029-02-28")
