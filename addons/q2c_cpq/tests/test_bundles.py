from odoo import Command
from odoo.exceptions import UserError, ValidationError
from odoo.tests import tagged

from .common import Q2cCpqCommon


@tagged("post_install", "-at_install")
class TestQ2cBundles(Q2cCpqCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env["q2c.config.rule"].search([]).active = False
        cls.env["q2c.approval.rule"].search([]).active = False
        cls.analytics = cls._create_product("Analytics", 30.0)
        cls.reports = cls._create_product("Reports", 30.0)
        cls.alerts = cls._create_product("Alerts", 30.0)
        cls.suite = cls._create_bundle(
            "Suite",
            100.0,
            [
                (cls.analytics, 1, "proportional", 0.0),
                (cls.reports, 1, "proportional", 0.0),
                (cls.alerts, 1, "proportional", 0.0),
            ],
        )

    @classmethod
    def _create_bundle(cls, name, price, components):
        return cls._create_product(
            name,
            price,
            q2c_is_bundle=True,
            q2c_bundle_line_ids=[
                Command.create(
                    {
                        "product_id": product.id,
                        "quantity": quantity,
                        "allocation_mode": mode,
                        "fixed_amount": fixed,
                    }
                )
                for product, quantity, mode, fixed in components
            ],
        )

    def _allocation(self, bundle, price):
        return [
            (line.product_id, amount)
            for line, amount in bundle.product_tmpl_id._q2c_bundle_allocate(price, self.currency)
        ]

    def test_proportional_allocation_sums_exactly(self):
        self.assertEqual(
            self._allocation(self.suite, 100.0),
            [
                (self.analytics, 33.33),
                (self.reports, 33.34),
                (self.alerts, 33.33),
            ],
        )
        # cumulative: 33.333 -> 33.33, 66.667 -> 66.67, 100.00: parts 33.33, 33.34, 33.33
        self.assertEqual(
            self._allocation(self.suite, 0.05),
            [
                (self.analytics, 0.02),
                (self.reports, 0.01),
                (self.alerts, 0.02),
            ],
        )

    def test_proportional_to_list_price_times_quantity(self):
        bundle = self._create_bundle(
            "Pro",
            999.99,
            [
                (self.platform, 1, "proportional", 0.0),  # 1000.00
                (self.users, 10, "proportional", 0.0),  # 10 x 20.00 = 200.00
                (self.onboarding, 1, "proportional", 0.0),  # 500.00
            ],
        )
        allocation = self._allocation(bundle, 999.99)
        # 999.99 x 1000/1700 = 588.229..., x 1200/1700 = 705.875... -> 705.88, then 999.99
        self.assertEqual(
            allocation,
            [
                (self.platform, 588.23),
                (self.users, 117.65),
                (self.onboarding, 294.11),
            ],
        )
        self.assertAlmostEqual(sum(a for _p, a in allocation), 999.99, places=6)

    def test_fixed_and_proportional(self):
        bundle = self._create_bundle(
            "Starter",
            250.0,
            [
                (self.onboarding, 1, "fixed", 100.0),
                (self.analytics, 1, "proportional", 0.0),
                (self.reports, 2, "proportional", 0.0),
            ],
        )
        # 150.00 left for 30 : 60 -> 50.00 / 100.00
        self.assertEqual(
            self._allocation(bundle, 250.0),
            [
                (self.onboarding, 100.0),
                (self.analytics, 50.0),
                (self.reports, 100.0),
            ],
        )

    def test_only_fixed_components_last_takes_the_rest(self):
        bundle = self._create_bundle(
            "Fixed",
            120.0,
            [
                (self.onboarding, 1, "fixed", 70.0),
                (self.training, 1, "fixed", 40.0),
            ],
        )
        self.assertEqual(
            self._allocation(bundle, 120.0),
            [
                (self.onboarding, 70.0),
                (self.training, 50.0),
            ],
        )

    def test_fixed_amounts_above_price_are_refused(self):
        bundle = self._create_bundle(
            "Broken",
            50.0,
            [
                (self.onboarding, 1, "fixed", 70.0),
                (self.analytics, 1, "proportional", 0.0),
            ],
        )
        with self.assertRaisesRegex(UserError, "Broken: the fixed amounts"):
            bundle.product_tmpl_id._q2c_bundle_allocate(50.0, self.currency)

    def test_zero_list_prices_split_by_quantity(self):
        free_a = self._create_product("Free A", 0.0)
        free_b = self._create_product("Free B", 0.0)
        bundle = self._create_bundle(
            "Free pair",
            10.0,
            [
                (free_a, 1, "proportional", 0.0),
                (free_b, 3, "proportional", 0.0),
            ],
        )
        self.assertEqual(self._allocation(bundle, 10.0), [(free_a, 2.5), (free_b, 7.5)])

    def test_bundle_constraints(self):
        with self.assertRaisesRegex(ValidationError, "add at least one component"):
            self._create_product("Empty", 10.0, q2c_is_bundle=True)
        with self.assertRaisesRegex(ValidationError, "must be positive"):
            self._create_bundle("Zero", 10.0, [(self.analytics, 0, "proportional", 0.0)])
        with self.assertRaisesRegex(ValidationError, "cannot be a bundle itself"):
            self._create_bundle("Nested", 10.0, [(self.suite, 1, "proportional", 0.0)])

    def test_quote_expands_bundle_and_allocates_to_the_cent(self):
        order = self._create_order([(self.suite, 2), (self.platform, 1)])
        bundle_line = self._line(order, self.suite)
        components = bundle_line.q2c_bundle_child_ids
        self.assertEqual(components.product_id, self.analytics | self.reports | self.alerts)
        self.assertEqual(components.mapped("product_uom_qty"), [2.0, 2.0, 2.0])
        self.assertEqual(components.mapped("price_unit"), [33.33, 33.34, 33.33])
        self.assertEqual(bundle_line.price_unit, 0.0)
        self.assertEqual(sum((bundle_line | components).mapped("price_subtotal")), 200.0)
        self.assertEqual(order.amount_untaxed, 1200.0)

    def test_component_quantity_residual_goes_to_a_single_unit_component(self):
        bundle = self._create_bundle(
            "Team",
            100.0,
            [
                (self.users, 3, "proportional", 0.0),  # 60.00 weight
                (self.analytics, 1, "proportional", 0.0),  # 30.00 weight
            ],
        )
        order = self._create_order([(bundle, 1)])
        bundle_line = self._line(order, bundle)
        users_line = self._line(order, self.users)
        analytics_line = self._line(order, self.analytics)
        # 66.67 for 3 users -> 22.22 a unit (66.66), the cent goes to Analytics (33.33 + 0.01)
        self.assertEqual(users_line.price_unit, 22.22)
        self.assertEqual(analytics_line.price_unit, 33.34)
        self.assertEqual(bundle_line.price_unit, 0.0)
        self.assertEqual(order.amount_untaxed, 100.0)

    def test_residual_stays_on_bundle_line_without_single_unit_component(self):
        bundle = self._create_bundle("Crowd", 100.0, [(self.users, 3, "proportional", 0.0)])
        order = self._create_order([(bundle, 4)])
        bundle_line = self._line(order, bundle)
        users_line = self._line(order, self.users)
        self.assertEqual(users_line.product_uom_qty, 12.0)
        self.assertEqual(users_line.price_unit, 33.33)
        self.assertEqual(bundle_line.price_unit, 0.01)
        self.assertEqual(order.amount_untaxed, 400.0)

    def test_bundle_quantity_and_discount_follow(self):
        order = self._create_order([(self.suite, 1)])
        bundle_line = self._line(order, self.suite)
        bundle_line.product_uom_qty = 3
        self.assertEqual(
            bundle_line.q2c_bundle_child_ids.mapped("product_uom_qty"), [3.0, 3.0, 3.0]
        )
        self.assertEqual(order.amount_untaxed, 300.0)
        bundle_line.discount = 10
        self.assertEqual(bundle_line.q2c_bundle_child_ids.mapped("discount"), [10.0, 10.0, 10.0])
        self.assertEqual(order.amount_untaxed, 270.0)

    def test_removing_bundle_removes_components_not_alone(self):
        order = self._create_order([(self.suite, 1)])
        bundle_line = self._line(order, self.suite)
        with self.assertRaisesRegex(UserError, "component of the bundle"):
            self._line(order, self.reports).unlink()
        bundle_line.unlink()
        self.assertFalse(order.order_line)

    def test_bundle_price_follows_pricelist(self):
        self.pricelist.item_ids = [
            Command.create(
                {
                    "applied_on": "1_product",
                    "product_tmpl_id": self.suite.product_tmpl_id.id,
                    "compute_price": "fixed",
                    "fixed_price": 90.0,
                }
            )
        ]
        order = self._create_order([(self.suite, 1)])
        self.assertEqual(
            self._line(order, self.suite).q2c_bundle_child_ids.mapped("price_unit"),
            [30.0, 30.0, 30.0],
        )
        self.assertEqual(order.amount_untaxed, 90.0)
