from datetime import timedelta

from psycopg2 import IntegrityError

from odoo import Command, fields
from odoo.exceptions import AccessError, ValidationError
from odoo.tests import Form, TransactionCase, new_test_user, tagged
from odoo.tools import mute_logger

STRIPE_TIERS = [(5, 7.0), (10, 6.5), (0, 6.0)]


class Q2cRatingCase(TransactionCase):
    """Fixtures of the rating tests: currencies, a product, a metric, plan factories."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company = cls.env.company
        cls.usd = cls.env.ref("base.USD")
        cls.eur = cls.env.ref("base.EUR")
        cls.jpy = cls.env.ref("base.JPY")
        (cls.usd | cls.eur | cls.jpy).active = True
        cls.product = cls.env["product.product"].create(
            {"name": "Rating Test Product", "type": "service"}
        )
        cls.metric = cls.env["q2c.usage.metric"].create(
            {"name": "Rating test calls", "code": "rating_test_calls", "aggregation": "sum"}
        )

    @classmethod
    def _plan(cls, charge_model, tiers=None, **vals):
        values = {
            "name": vals.pop("name", f"Test {charge_model}"),
            "product_id": cls.product.id,
            "currency_id": cls.usd.id,
            "charge_type": "recurring",
            "charge_model": charge_model,
            **vals,
        }
        if tiers is not None:
            values["tier_ids"] = [
                Command.create(
                    {
                        "sequence": index,
                        "up_to": tier[0],
                        "unit_price": tier[1],
                        "flat_price": tier[2] if len(tier) > 2 else 0.0,
                    }
                )
                for index, tier in enumerate(tiers, start=1)
            ]
        return cls.env["q2c.price.plan"].create(values)

    def assertRated(self, plan, quantity, expected):
        """Rate through the public ``rate()`` and check the amount to the cent and that the
        lines add up exactly to it."""
        result = plan.rate(quantity)
        currency = plan.currency_id
        self.assertEqual(result["currency"], currency.name)
        self.assertEqual(
            currency.compare_amounts(result["amount"], expected),
            0,
            f"{plan.name}: {quantity} -> {result['amount']}, expected {expected}",
        )
        self.assertEqual(result["amount"], currency.round(expected))
        self.assertEqual(
            currency.round(sum(line["amount"] for line in result["lines"])), result["amount"]
        )
        for line in result["lines"]:
            self.assertEqual(set(line), {"description", "quantity", "unit_price", "amount"})
            self.assertEqual(line["amount"], currency.round(line["amount"]))
        return result


@tagged("post_install", "-at_install")
class TestRatingModels(Q2cRatingCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.volume = cls._plan("volume", tiers=STRIPE_TIERS, name="Stripe volume")
        cls.graduated = cls._plan("graduated", tiers=STRIPE_TIERS, name="Stripe graduated")

    def test_vector_tier_stripe_01_volume(self):
        """TIER-STRIPE-01: volume tiers 1-5 at 7, 6-10 at 6.5, 11+ at 6."""
        for quantity, total in {1: 7.0, 5: 35.0, 6: 39.0, 20: 120.0, 25: 150.0}.items():
            self.assertRated(self.volume, quantity, total)
        # Boundary checks: exactly at up_to and one past it.
        self.assertRated(self.volume, 10, 65.0)
        self.assertRated(self.volume, 11, 66.0)
        result = self.volume.rate(20)
        self.assertEqual(len(result["lines"]), 1)
        self.assertEqual(result["lines"][0]["quantity"], 20.0)
        self.assertEqual(result["lines"][0]["unit_price"], 6.0)

    def test_vector_tier_stripe_02_graduated(self):
        """TIER-STRIPE-02: same tiers, graduated."""
        for quantity, total in {1: 7.0, 5: 35.0, 6: 41.5, 20: 127.5, 25: 157.5}.items():
            self.assertRated(self.graduated, quantity, total)
        self.assertRated(self.graduated, 10, 67.5)
        self.assertRated(self.graduated, 11, 73.5)
        lines = self.graduated.rate(20)["lines"]
        self.assertEqual([line["quantity"] for line in lines], [5.0, 5.0, 10.0])
        self.assertEqual([line["amount"] for line in lines], [35.0, 32.5, 60.0])

    def test_vector_tier_lago_02_package(self):
        """TIER-LAGO-02: packages of 100 at 5, the first 100 units free, 201 units -> 10."""
        plan = self._plan(
            "package",
            charge_type="usage",
            metric_id=self.metric.id,
            package_size=100,
            unit_price=5.0,
            included_quantity=100,
        )
        result = self.assertRated(plan, 201, 10.0)
        package_line = result["lines"][-1]
        self.assertEqual(package_line["quantity"], 2.0)
        self.assertEqual(package_line["unit_price"], 5.0)
        self.assertEqual(result["lines"][0]["quantity"], 100.0)
        self.assertEqual(result["lines"][0]["amount"], 0.0)
        # Boundaries: all free, exactly one package, one unit into the next package.
        self.assertRated(plan, 100, 0.0)
        self.assertRated(plan, 200, 5.0)
        self.assertRated(plan, 300, 10.0)
        self.assertRated(plan, 301, 15.0)
        self.assertRated(plan, 100.5, 5.0)

    def test_zero_quantity(self):
        self.assertRated(self.volume, 0, 0.0)
        result = self.assertRated(self.graduated, 0, 0.0)
        self.assertEqual(len(result["lines"]), 1)

    def test_flat(self):
        plan = self._plan("flat", flat_price=490.0)
        for quantity in (0, 1, 7, 2.5):
            result = self.assertRated(plan, quantity, 490.0)
            self.assertEqual(len(result["lines"]), 1)
            self.assertEqual(result["lines"][0]["quantity"], 1.0)
            self.assertEqual(result["lines"][0]["unit_price"], 490.0)

    def test_per_unit(self):
        plan = self._plan("per_unit", unit_price=29.0)
        self.assertRated(plan, 0, 0.0)
        self.assertRated(plan, 1, 29.0)
        self.assertRated(plan, 10, 290.0)
        self.assertRated(plan, 2.5, 72.5)

    def test_per_unit_included_and_base_fee(self):
        plan = self._plan("per_unit", unit_price=2.0, included_quantity=3, flat_price=10.0)
        self.assertRated(plan, 2, 10.0)
        self.assertRated(plan, 3, 10.0)
        result = self.assertRated(plan, 4, 12.0)
        descriptions = [line["description"] for line in result["lines"]]
        self.assertIn("Included units (3 free)", descriptions)
        self.assertRated(plan, 10.5, 25.0)

    def test_graduated_boundaries(self):
        # Exactly at each up_to and one past it.
        self.assertRated(self.graduated, 5, 35.0)
        self.assertRated(self.graduated, 6, 41.5)
        self.assertRated(self.graduated, 10, 67.5)
        self.assertRated(self.graduated, 11, 73.5)

    def test_graduated_flat_prices_of_reached_tiers(self):
        plan = self._plan("graduated", tiers=[(5, 7.0, 10.0), (0, 6.0, 20.0)])
        self.assertRated(plan, 0, 0.0)
        self.assertRated(plan, 1, 17.0)
        self.assertRated(plan, 5, 45.0)
        result = self.assertRated(plan, 6, 71.0)
        self.assertEqual(len(result["lines"]), 4)

    def test_volume_only_flat_price_of_the_tier(self):
        plan = self._plan("volume", tiers=[(5, 7.0, 10.0), (0, 6.0, 20.0)])
        self.assertRated(plan, 0, 0.0)
        self.assertRated(plan, 5, 45.0)
        self.assertRated(plan, 6, 56.0)

    def test_volume_total_can_drop_across_a_boundary(self):
        plan = self._plan("volume", tiers=[(10, 10.0), (0, 5.0)])
        self.assertRated(plan, 10, 100.0)
        self.assertRated(plan, 11, 55.0)

    def test_fractional_quantities(self):
        # A tier covers (previous up_to, up_to].
        self.assertRated(self.graduated, 5.5, 38.25)
        self.assertRated(self.volume, 5.5, 35.75)
        self.assertRated(self.volume, 10.25, 61.5)
        graduated = self._plan("graduated", tiers=[(2.5, 1.0), (0, 2.0)])
        self.assertRated(graduated, 2.5, 2.5)
        self.assertRated(graduated, 2.6, 2.7)
        self.assertRated(graduated, 0.3, 0.3)
        volume = self._plan("volume", tiers=[(2.5, 1.0), (0, 2.0)])
        self.assertRated(volume, 2.5, 2.5)
        self.assertRated(volume, 2.6, 5.2)

    def test_included_quantity_taken_off_first(self):
        graduated = self._plan("graduated", tiers=STRIPE_TIERS, included_quantity=2)
        self.assertRated(graduated, 2, 0.0)
        self.assertRated(graduated, 7, 35.0)
        self.assertRated(graduated, 8, 41.5)
        volume = self._plan("volume", tiers=STRIPE_TIERS, included_quantity=2)
        self.assertRated(volume, 8, 39.0)
        self.assertRated(volume, 1.5, 0.0)
        result = volume.rate(1.5)
        self.assertEqual(result["lines"][0]["quantity"], 1.5)

    def test_package_minimum_packages(self):
        plan = self._plan("package", package_size=10, unit_price=4.0, minimum_packages=3)
        self.assertRated(plan, 0, 12.0)
        self.assertRated(plan, 25, 12.0)
        self.assertRated(plan, 30, 12.0)
        self.assertRated(plan, 31, 16.0)
        # Fractional package sizes do not suffer from binary floats (1.1 / 0.1 = 11).
        plan = self._plan("package", package_size=0.1, unit_price=1.0)
        self.assertRated(plan, 1.1, 11.0)
        self.assertRated(plan, 0.3, 3.0)

    def test_minimum_and_maximum_amount(self):
        plan = self._plan("per_unit", unit_price=10.0, minimum_amount=50.0, maximum_amount=100.0)
        result = self.assertRated(plan, 0, 50.0)
        self.assertIn("Minimum", result["lines"][-1]["description"])
        result = self.assertRated(plan, 2, 50.0)
        self.assertEqual(result["lines"][-1]["amount"], 30.0)
        self.assertRated(plan, 5, 50.0)
        result = self.assertRated(plan, 7, 70.0)
        self.assertEqual(len(result["lines"]), 1)
        self.assertRated(plan, 10, 100.0)
        result = self.assertRated(plan, 15, 150.0 - 50.0)
        self.assertIn("Maximum", result["lines"][-1]["description"])
        self.assertEqual(result["lines"][-1]["amount"], -50.0)
        capped = self._plan("graduated", tiers=STRIPE_TIERS, maximum_amount=100.0)
        self.assertRated(capped, 25, 100.0)


@tagged("post_install", "-at_install")
class TestRatingRounding(Q2cRatingCase):
    def test_rounded_once_per_line(self):
        plan = self._plan("per_unit", unit_price=0.333)
        result = self.assertRated(plan, 3, 1.0)
        self.assertEqual(result["lines"][0]["unit_price"], 0.333)

    def test_half_up(self):
        # 3 x 0.335 = 1.005 exactly: half-up gives 1.01 (a binary float would give 1.00).
        self.assertRated(self._plan("per_unit", unit_price=0.335), 3, 1.01)
        self.assertRated(self._plan("per_unit", unit_price=2.675), 1, 2.68)
        self.assertRated(self._plan("per_unit", unit_price=0.125), 1, 0.13)

    def test_lines_sum_to_amount(self):
        plan = self._plan("graduated", tiers=[(3, 0.335, 0.005), (0, 0.3333)])
        result = self.assertRated(plan, 7, 2.35)
        self.assertEqual([line["amount"] for line in result["lines"]], [1.01, 0.01, 1.33])

    def test_zero_decimal_currency(self):
        plan = self._plan("per_unit", unit_price=99.5, currency_id=self.jpy.id, name="JPY plan")
        result = self.assertRated(plan, 3, 299.0)
        self.assertEqual(result["currency"], "JPY")
        graduated = self._plan("graduated", tiers=[(10, 12.5), (0, 10.25)], currency_id=self.jpy.id)
        # 10 x 12.5 = 125; 3 x 10.25 = 30.75 -> 31.
        result = self.assertRated(graduated, 13, 156.0)
        self.assertEqual([line["amount"] for line in result["lines"]], [125.0, 31.0])


@tagged("post_install", "-at_install")
class TestRatingApi(Q2cRatingCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.plan = cls._plan("graduated", tiers=STRIPE_TIERS, name="API graduated")
        cls.user = new_test_user(
            cls.env, "q2c_rating_user", groups="q2c_billing.group_q2c_billing_user"
        )
        cls.manager = new_test_user(
            cls.env, "q2c_rating_manager", groups="q2c_billing.group_q2c_billing_manager"
        )
        cls.outsider = new_test_user(cls.env, "q2c_rating_outsider", groups="base.group_user")

    def test_quantity_validation(self):
        for bad in (-1, -0.01, "abc", "5", None, True, [], {}, float("nan"), float("inf")):
            with self.assertRaisesRegex(ValidationError, "quantity"):
                self.plan.rate(bad)
        with self.assertRaisesRegex(ValidationError, "quantity"):
            self.plan._q2c_rate(-3)

    def test_rate_is_pure(self):
        self.env.flush_all()
        write_date = self.plan.write_date
        counts = {
            model: self.env[model].search_count([])
            for model in ("q2c.price.plan", "q2c.price.tier", "mail.message")
        }
        query = (
            "SELECT COALESCE(SUM(n_tup_ins + n_tup_upd + n_tup_del), 0)"
            " FROM pg_stat_xact_user_tables"
        )
        self.env.cr.execute(query)
        before = self.env.cr.fetchone()[0]
        for quantity in (0, 1, 6, 25, 7.5):
            self.plan.with_user(self.user).rate(quantity)
            self.plan._q2c_rate(quantity)
        self.env.flush_all()
        self.env.cr.execute(query)
        self.assertEqual(self.env.cr.fetchone()[0], before, "rate() wrote to the database")
        self.assertEqual(self.plan.write_date, write_date)
        for model, count in counts.items():
            self.assertEqual(self.env[model].search_count([]), count)

    def test_access(self):
        result = self.plan.with_user(self.user).rate(6)
        self.assertEqual(result["amount"], 41.5)
        with self.assertRaises(AccessError):
            self.plan.with_user(self.outsider).rate(6)
        with self.assertRaises(AccessError):
            self.env["q2c.price.plan"].with_user(self.user).create(
                {
                    "name": "Not allowed",
                    "product_id": self.product.id,
                    "charge_model": "flat",
                    "flat_price": 1.0,
                }
            )
        with self.assertRaises(AccessError):
            self.plan.tier_ids[:1].with_user(self.user).write({"unit_price": 1.0})
        plan = (
            self.env["q2c.price.plan"]
            .with_user(self.manager)
            .create(
                {
                    "name": "Manager plan",
                    "product_id": self.product.id,
                    "charge_model": "flat",
                    "flat_price": 12.0,
                }
            )
        )
        self.assertEqual(plan.rate(1)["amount"], 12.0)

    def test_multi_company_rule(self):
        other = self.env["res.company"].create(
            {"name": "Rating Other Co", "currency_id": self.eur.id}
        )
        plan = self._plan("flat", flat_price=5.0, company_id=other.id, name="Other company plan")
        Plan = self.env["q2c.price.plan"].with_user(self.user)
        self.assertNotIn(plan, Plan.search([("product_id", "=", self.product.id)]))
        with self.assertRaises(AccessError):
            plan.with_user(self.user).rate(1)

    def test_period_factor_and_monthly_amount(self):
        seat = self._plan("per_unit", unit_price=29.0)
        self.assertEqual(seat._q2c_period_factor(3), 3.0)
        self.assertEqual(seat._q2c_period_factor(12), 12.0)
        self.assertEqual(seat._q2c_rate(10, period_months=3)["amount"], 870.0)
        self.assertEqual(seat._q2c_monthly_amount(10), 290.0)
        yearly = self._plan("flat", flat_price=2000.0, recurring_period="year")
        self.assertAlmostEqual(yearly._q2c_period_factor(1), 1 / 12)
        self.assertEqual(yearly._q2c_period_factor(12), 1.0)
        # MRR-CM-01: a 2,000 yearly plan is 166.67 of MRR.
        self.assertEqual(yearly._q2c_monthly_amount(1), 166.67)
        quarterly = self._plan("flat", flat_price=300.0, recurring_period="quarter")
        self.assertEqual(quarterly._q2c_monthly_amount(1), 100.0)
        self.assertEqual(quarterly._q2c_rate(1, period_months=12)["amount"], 1200.0)
        usage = self._plan(
            "per_unit", unit_price=1.0, charge_type="usage", metric_id=self.metric.id
        )
        self.assertEqual(usage._q2c_period_factor(3), 1.0)
        self.assertEqual(usage._q2c_monthly_amount(10), 0.0)
        self.assertEqual(usage._q2c_rate(10, period_months=3)["amount"], 10.0)

    def test_billing_timing_default(self):
        self.assertEqual(self.plan.billing_timing, "in_advance")
        usage = self._plan("per_unit", charge_type="usage", metric_id=self.metric.id)
        self.assertEqual(usage.billing_timing, "in_arrears")

    def test_preview(self):
        self.assertIn("41.50", self.plan._q2c_rate_preview_html(6))
        self.assertTrue(self.plan.rate_preview)
        self.assertIn("quantity", self.plan._q2c_rate_preview_html(-1))


@tagged("post_install", "-at_install")
class TestPricePlanConstraints(Q2cRatingCase):
    def test_tiers_required_for_tiered_models(self):
        for model in ("graduated", "volume"):
            with self.assertRaisesRegex(ValidationError, "Price plan No tiers: the field 'Tiers'"):
                self._plan(model, tiers=[], name="No tiers")

    def test_tiers_only_for_tiered_models(self):
        with self.assertRaisesRegex(ValidationError, "Price plan Flat with tiers: .*'Tiers'"):
            self._plan("flat", tiers=[(0, 1.0)], name="Flat with tiers", flat_price=1.0)

    def test_tiers_ascending(self):
        with self.assertRaisesRegex(ValidationError, "Price plan Bad order: .*'Up To'.*ascending"):
            self._plan("graduated", tiers=[(10, 1.0), (5, 1.0), (0, 1.0)], name="Bad order")
        with self.assertRaisesRegex(ValidationError, "ascending"):
            self._plan("graduated", tiers=[(5, 1.0), (5, 1.0), (0, 1.0)], name="Equal bounds")

    def test_open_tier_last_only(self):
        with self.assertRaisesRegex(ValidationError, "Price plan Open first: tier 1 .*'Up To'"):
            self._plan("volume", tiers=[(0, 1.0), (5, 1.0)], name="Open first")
        with self.assertRaisesRegex(ValidationError, "Price plan Closed last: the last tier"):
            self._plan("volume", tiers=[(5, 1.0), (10, 1.0)], name="Closed last")

    def test_tier_written_directly_is_checked(self):
        plan = self._plan("graduated", tiers=STRIPE_TIERS, name="Direct tier")
        with self.assertRaisesRegex(ValidationError, "Price plan Direct tier: .*ascending"):
            plan.tier_ids[1].up_to = 3

    def test_negative_tier_price(self):
        with self.assertRaisesRegex(ValidationError, "Price plan Negative tier: .*'Unit Price'"):
            self._plan("graduated", tiers=[(5, -1.0), (0, 1.0)], name="Negative tier")

    def test_package_size(self):
        with self.assertRaisesRegex(
            ValidationError, "Price plan No size: the field 'Package Size'"
        ):
            self._plan("package", package_size=0, unit_price=1.0, name="No size")

    def test_no_negative_values(self):
        for fname, label in (
            ("unit_price", "Unit Price"),
            ("flat_price", "Flat Price"),
            ("included_quantity", "Included Quantity"),
            ("minimum_packages", "Minimum Packages"),
            ("minimum_amount", "Minimum Amount"),
            ("maximum_amount", "Maximum Amount"),
        ):
            with self.assertRaisesRegex(
                ValidationError, f"Price plan Negative: the field '{label}' cannot be negative"
            ):
                self._plan("per_unit", name="Negative", **{fname: -1})

    def test_minimum_not_above_maximum(self):
        with self.assertRaisesRegex(
            ValidationError, "Price plan Min max: the field 'Minimum Amount'.*'Maximum Amount'"
        ):
            self._plan("per_unit", name="Min max", minimum_amount=100, maximum_amount=50)
        # Equal bounds, or a minimum without a maximum, are fine.
        self._plan("per_unit", name="Min only", minimum_amount=100)
        self._plan("per_unit", name="Equal", minimum_amount=50, maximum_amount=50)

    def test_usage_needs_metric(self):
        with self.assertRaisesRegex(
            ValidationError, "Price plan No metric: the field 'Usage Metric'"
        ):
            self._plan("per_unit", charge_type="usage", name="No metric")

    def test_currency_required(self):
        with self.assertRaisesRegex(
            ValidationError, "Price plan No currency: the field 'Currency'"
        ):
            self._plan("flat", currency_id=False, name="No currency")

    def test_validity_dates(self):
        with self.assertRaisesRegex(ValidationError, "Price plan Dates: the field 'Valid Until'"):
            self._plan("flat", name="Dates", date_start="2026-02-01", date_end="2026-01-01")

    def test_metric_code_unique_per_company(self):
        Metric = self.env["q2c.usage.metric"]
        with self.assertRaises(IntegrityError), mute_logger("odoo.sql_db"), self.cr.savepoint():
            Metric.create({"name": "Duplicate", "code": "rating_test_calls"})
        Metric.create({"name": "Shared", "code": "shared_code", "company_id": False})
        with self.assertRaisesRegex(ValidationError, "shared_code"):
            Metric.create({"name": "Shared 2", "code": "shared_code", "company_id": False})
        with self.assertRaisesRegex(ValidationError, "Unique Property"):
            Metric.create({"name": "Users", "code": "users", "aggregation": "unique_count"})


@tagged("post_install", "-at_install")
class TestPricePlanLookup(Q2cRatingCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        Partner = cls.env["res.partner"]
        cls.pricelist_eur = cls.env["product.pricelist"].create(
            {"name": "Lookup EUR", "currency_id": cls.eur.id}
        )
        cls.pricelist_usd = cls.env["product.pricelist"].create(
            {"name": "Lookup USD", "currency_id": cls.usd.id}
        )
        cls.acme = Partner.create(
            {
                "name": "Lookup Acme",
                "is_company": True,
                "property_product_pricelist": cls.pricelist_usd.id,
            }
        )
        cls.acme_contact = Partner.create({"name": "Lookup Jane", "parent_id": cls.acme.id})
        cls.other = Partner.create(
            {
                "name": "Lookup Other",
                "is_company": True,
                "property_product_pricelist": cls.pricelist_usd.id,
            }
        )
        cls.european = Partner.create(
            {
                "name": "Lookup Europe",
                "is_company": True,
                "property_product_pricelist": cls.pricelist_eur.id,
            }
        )
        today = fields.Date.today()
        cls.generic_usd = cls._plan("flat", flat_price=490.0, name="Generic USD")
        cls.generic_eur = cls._plan(
            "flat", flat_price=450.0, currency_id=cls.eur.id, name="Generic EUR"
        )
        cls.pricelist_plan = cls._plan(
            "flat",
            flat_price=430.0,
            currency_id=cls.eur.id,
            pricelist_id=cls.pricelist_eur.id,
            name="Pricelist EUR",
        )
        cls.acme_plan = cls._plan(
            "flat", flat_price=400.0, partner_id=cls.acme.id, name="Acme override"
        )
        cls.other_plan = cls._plan(
            "flat", flat_price=1.0, partner_id=cls.other.id, name="Other override"
        )
        cls.expired = cls._plan(
            "flat",
            flat_price=2.0,
            partner_id=cls.acme.id,
            name="Expired override",
            sequence=1,
            date_end=today - timedelta(days=1),
        )
        cls.archived = cls._plan(
            "flat",
            flat_price=3.0,
            partner_id=cls.acme.id,
            name="Archived override",
            sequence=1,
            active=False,
        )
        cls.usage_plan = cls._plan(
            "per_unit",
            unit_price=0.1,
            charge_type="usage",
            metric_id=cls.metric.id,
            name="Usage",
        )

    def _lookup(self, **kwargs):
        return self.product._q2c_get_price_plan(**kwargs)

    def test_generic_by_currency(self):
        self.assertEqual(
            self._lookup(currency=self.usd, pricelist=self.pricelist_usd), self.generic_usd
        )
        self.assertEqual(self._lookup(currency=self.eur), self.generic_eur)
        self.assertEqual(self._lookup(currency=self.eur.id), self.generic_eur)

    def test_pricelist_override(self):
        # The partner's pricelist (and its currency) apply when none is given.
        self.assertEqual(self._lookup(partner=self.european), self.pricelist_plan)
        self.assertEqual(self._lookup(pricelist=self.pricelist_eur), self.pricelist_plan)
        self.assertEqual(
            self._lookup(pricelist=self.pricelist_eur, currency=self.eur), self.pricelist_plan
        )
        # The given currency is preferred to a more specific plan in another currency.
        self.assertEqual(
            self._lookup(pricelist=self.pricelist_eur, currency=self.usd), self.generic_usd
        )

    def test_partner_override(self):
        self.assertEqual(self._lookup(partner=self.acme, currency=self.usd), self.acme_plan)
        self.assertEqual(self._lookup(partner=self.acme_contact, currency=self.usd), self.acme_plan)
        self.assertEqual(
            self._lookup(partner=self.acme, pricelist=self.pricelist_usd, currency=self.usd),
            self.acme_plan,
        )
        # Another customer's override is never used.
        self.assertNotEqual(self._lookup(partner=self.acme, currency=self.usd), self.other_plan)
        self.assertEqual(self._lookup(partner=self.other, currency=self.eur), self.generic_eur)
        # Partner > pricelist when both apply in the wanted currency.
        acme_eur = self._plan(
            "flat",
            flat_price=399.0,
            currency_id=self.eur.id,
            partner_id=self.acme.id,
            name="Acme EUR",
        )
        self.assertEqual(
            self._lookup(partner=self.acme, pricelist=self.pricelist_eur, currency=self.eur),
            acme_eur,
        )

    def test_fallback_to_other_currency(self):
        jpy_only = self.env["product.product"].create({"name": "Lookup JPY only"})
        plan = self.env["q2c.price.plan"].create(
            {
                "name": "JPY only",
                "product_id": jpy_only.id,
                "currency_id": self.jpy.id,
                "charge_model": "flat",
                "flat_price": 1000,
            }
        )
        self.assertEqual(jpy_only._q2c_get_price_plan(currency=self.usd), plan)
        nothing = self.env["product.product"].create({"name": "Lookup no plan"})
        self.assertFalse(nothing._q2c_get_price_plan(currency=self.usd))

    def test_charge_type_and_date(self):
        self.assertEqual(self._lookup(charge_type="usage", currency=self.usd), self.usage_plan)
        self.assertFalse(self._lookup(charge_type="one_time", currency=self.usd))
        # The expired override applies on a past date (sequence 1 wins among partner plans).
        yesterday = fields.Date.today() - timedelta(days=1)
        self.assertEqual(
            self._lookup(partner=self.acme, currency=self.usd, date=yesterday), self.expired
        )
        self.assertEqual(
            self._lookup(
                partner=self.acme, currency=self.usd, date=fields.Date.to_string(yesterday)
            ),
            self.expired,
        )
        future = self._plan(
            "flat",
            flat_price=5.0,
            name="Future",
            sequence=1,
            date_start=fields.Date.today() + timedelta(days=30),
        )
        self.assertEqual(
            self._lookup(currency=self.usd, pricelist=self.pricelist_usd), self.generic_usd
        )
        self.assertEqual(
            self._lookup(
                currency=self.usd,
                pricelist=self.pricelist_usd,
                date=fields.Date.today() + timedelta(days=30),
            ),
            future,
        )

    def test_product_template_count(self):
        template = self.product.product_tmpl_id
        self.assertEqual(template.q2c_price_plan_count, 7)
        action = template.action_q2c_view_price_plans()
        self.assertEqual(action["res_model"], "q2c.price.plan")
        self.assertEqual(
            self.env["q2c.price.plan"].search_count(action["domain"]),
            template.q2c_price_plan_count,
        )


@tagged("post_install", "-at_install")
class TestPricePlanForm(Q2cRatingCase):
    def test_form_tiers_and_preview(self):
        with Form(self.env["q2c.price.plan"]) as plan_form:
            plan_form.name = "Form graduated"
            plan_form.product_id = self.product
            plan_form.currency_id = self.usd
            plan_form.charge_model = "graduated"
            for up_to, price in STRIPE_TIERS:
                with plan_form.tier_ids.new() as tier:
                    tier.up_to = up_to
                    tier.unit_price = price
            plan_form.rate_test_quantity = 20
            self.assertIn("127.50", plan_form.rate_preview)
            with plan_form.tier_ids.edit(2) as tier:
                tier.unit_price = 5.0
            # The test quantity survives tier edits; the preview follows them.
            self.assertEqual(plan_form.rate_test_quantity, 20)
            self.assertIn("117.50", plan_form.rate_preview)
        plan = plan_form.record
        self.assertEqual(plan.rate(20)["amount"], 117.5)
        self.assertEqual(plan.billing_timing, "in_advance")

    def test_form_usage_defaults_to_in_arrears(self):
        with Form(self.env["q2c.price.plan"]) as plan_form:
            plan_form.name = "Form usage"
            plan_form.product_id = self.product
            plan_form.charge_type = "usage"
            plan_form.metric_id = self.metric
            plan_form.charge_model = "per_unit"
            plan_form.unit_price = 0.25
            self.assertEqual(plan_form.billing_timing, "in_arrears")
        self.assertEqual(plan_form.record.rate(10)["amount"], 2.5)

    def test_product_form_shows_plans(self):
        plan = self._plan("flat", flat_price=10.0)
        template = self.product.product_tmpl_id
        self.assertIn(plan, template.q2c_price_plan_ids)
        arch = template.get_views([(False, "form")])["views"]["form"]["arch"]
        self.assertIn("action_q2c_view_price_plans", arch)
        self.assertIn("q2c_price_plan_ids", arch)
