from datetime import date

from odoo import Command

from odoo.addons.account.tests.common import AccountTestInvoicingCommon


class Q2cSubscriptionCommon(AccountTestInvoicingCommon):
    """Fixtures of the subscription and billing tests: a USD company with EUR enabled, taxes
    (10 % excluded, 21 % included), SaaS products with price plans in both currencies and two
    customers. No demo data."""

    @classmethod
    def get_default_groups(cls):
        return super().get_default_groups() | cls.env.ref("q2c_billing.group_q2c_billing_manager")

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company = cls.env.company
        cls.usd = cls.company.currency_id
        # 1 USD = 0.8 EUR (so 100 EUR = 125 USD) on every date of the tests.
        cls.eur = cls.setup_other_currency("EUR", rates=[("2000-01-01", 0.8)])
        cls.company.q2c_invoice_post = True
        cls.company.q2c_invoice_grouping = "customer"
        cls.company.q2c_upgrade_billing = "immediate"

        Tax = cls.env["account.tax"]
        cls.tax_10 = Tax.create(
            {
                "name": "Q2C sales 10%",
                "amount": 10.0,
                "amount_type": "percent",
                "type_tax_use": "sale",
                "price_include_override": "tax_excluded",
                "company_id": cls.company.id,
            }
        )
        cls.tax_21_incl = Tax.create(
            {
                "name": "Q2C sales 21% included",
                "amount": 21.0,
                "amount_type": "percent",
                "type_tax_use": "sale",
                "price_include_override": "tax_included",
                "company_id": cls.company.id,
            }
        )
        cls.income_account = cls.company_data["default_account_revenue"]

        cls.product_platform = cls._q2c_product("Platform", cls.tax_10)
        cls.product_seat = cls._q2c_product("Seat", cls.tax_10)
        cls.product_gold = cls._q2c_product("Gold plan", cls.tax_10)
        cls.product_setup = cls._q2c_product("Onboarding", cls.tax_10)
        cls.product_incl = cls._q2c_product("Hosting (tax incl.)", cls.tax_21_incl)
        cls.product_untaxed = cls._q2c_product("Untaxed service", None)

        # Monthly prices (recurring, in advance unless said otherwise).
        cls.plan_platform = cls._q2c_plan(cls.product_platform, "flat", flat_price=100.0)
        cls.plan_platform_eur = cls._q2c_plan(
            cls.product_platform, "flat", flat_price=90.0, currency=cls.eur
        )
        cls.plan_seat = cls._q2c_plan(cls.product_seat, "per_unit", unit_price=10.0)
        cls.plan_seat_eur = cls._q2c_plan(
            cls.product_seat, "per_unit", unit_price=9.0, currency=cls.eur
        )
        cls.plan_seat_20 = cls._q2c_plan(
            cls.product_seat, "per_unit", unit_price=20.0, name="Seat premium", sequence=20
        )
        cls.plan_gold_yearly = cls._q2c_plan(
            cls.product_gold, "per_unit", unit_price=500.0, recurring_period="year"
        )
        cls.plan_setup = cls._q2c_plan(
            cls.product_setup, "flat", flat_price=250.0, charge_type="one_time"
        )
        cls.plan_incl = cls._q2c_plan(cls.product_incl, "flat", flat_price=121.0)
        cls.plan_untaxed = cls._q2c_plan(cls.product_untaxed, "flat", flat_price=31.0)
        cls.plan_untaxed_arrears = cls._q2c_plan(
            cls.product_untaxed,
            "per_unit",
            unit_price=62.0,
            billing_timing="in_arrears",
            name="Untaxed service (in arrears)",
            sequence=30,
        )

        cls.partner = cls.env["res.partner"].create({"name": "Q2C Customer US"})
        cls.partner_2 = cls.env["res.partner"].create({"name": "Q2C Customer Two"})
        cls.partner_eu = cls.env["res.partner"].create({"name": "Q2C Kunde EU"})
        cls.reason_price = cls.env.ref("q2c_billing.close_reason_price")

    @classmethod
    def _q2c_product(cls, name, tax):
        return cls.env["product.product"].create(
            {
                "name": name,
                "type": "service",
                "list_price": 1.0,
                "taxes_id": [Command.set(tax.ids if tax else [])],
                "property_account_income_id": cls.income_account.id,
            }
        )

    @classmethod
    def _q2c_plan(cls, product, model, currency=None, **vals):
        vals.setdefault("name", f"{product.name} ({model})")
        return cls.env["q2c.price.plan"].create(
            {
                "product_id": product.id,
                "currency_id": (currency or cls.usd).id,
                "charge_type": vals.pop("charge_type", "recurring"),
                "charge_model": model,
                **vals,
            }
        )

    @classmethod
    def _q2c_subscription(
        cls, lines, partner=None, start=date(2026, 1, 1), activate=True, currency=None, **vals
    ):
        """A subscription with ``lines`` = [(plan, quantity)] (or (plan, quantity, extra vals))."""
        currency = currency or cls.usd
        line_cmds = []
        for spec in lines:
            plan, quantity = spec[0], spec[1]
            extra = spec[2] if len(spec) > 2 else {}
            line_cmds.append(
                Command.create(
                    {
                        "product_id": plan.product_id.id,
                        "price_plan_id": plan.id,
                        "quantity": quantity,
                        **extra,
                    }
                )
            )
        sub = cls.env["q2c.subscription"].create(
            {
                "partner_id": (partner or cls.partner).id,
                "currency_id": currency.id,
                "start_date": start,
                "line_ids": line_cmds,
                **vals,
            }
        )
        if activate:
            sub.action_activate()
        return sub

    def assertMoveBalanced(self, moves):
        for move in moves:
            debit = sum(move.line_ids.mapped("debit"))
            credit = sum(move.line_ids.mapped("credit"))
            self.assertAlmostEqual(debit, credit, places=2, msg=f"{move.name} is not balanced")
            self.assertEqual(move.company_currency_id.compare_amounts(debit, credit), 0)

    def _run(self, day):
        return self.env["q2c.billing.run"].run_billing(day)

    def _invoices(self, result):
        return self.env["account.move"].browse(result["invoice_ids"])
