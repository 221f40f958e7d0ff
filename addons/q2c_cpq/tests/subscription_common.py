from datetime import date

from odoo import Command

from odoo.addons.account.tests.common import AccountTestInvoicingCommon


class Q2cCpqSubscriptionCommon(AccountTestInvoicingCommon):
    """Fixtures of the quote-to-subscription tests: a USD company with its chart of accounts,
    untaxed SaaS products with monthly price plans, a customer. No demo data."""

    @classmethod
    def get_default_groups(cls):
        return (
            super().get_default_groups()
            | cls.env.ref("q2c_billing.group_q2c_billing_manager")
            | cls.env.ref("q2c_cpq.group_q2c_cpq_manager")
            | cls.env.ref("sales_team.group_sale_manager")
        )

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env = cls.env(context=dict(cls.env.context, tracking_disable=True))
        cls.env["q2c.config.rule"].search([]).active = False
        cls.env["q2c.approval.rule"].search([]).active = False
        cls.company = cls.env.company
        cls.usd = cls.company.currency_id
        cls.income_account = cls.company_data["default_account_revenue"]
        cls.pricelist = cls.env["product.pricelist"].create(
            {
                "name": "Q2C CPQ USD",
                "currency_id": cls.usd.id,
                "company_id": cls.company.id,
            }
        )
        cls.partner = cls.env["res.partner"].create({"name": "Q2C CPQ Customer"})
        cls.platform = cls._product("Platform")
        cls.seat = cls._product("Seat")
        cls.support = cls._product("Support")
        cls.setup_fee = cls._product("Setup")
        cls.training = cls._product("Training", price=800.0)
        cls.plan_platform = cls._plan(cls.platform, "flat", flat_price=100.0)
        cls.plan_seat = cls._plan(cls.seat, "per_unit", unit_price=10.0)
        cls.plan_support = cls._plan(cls.support, "per_unit", unit_price=25.0)
        cls.plan_setup = cls._plan(cls.setup_fee, "flat", charge_type="one_time", flat_price=250.0)
        cls.reason = cls.env["q2c.close.reason"].create({"name": "Q2C CPQ budget cut"})

    @classmethod
    def _product(cls, name, price=1.0):
        return cls.env["product.product"].create(
            {
                "name": name,
                "type": "service",
                "list_price": price,
                "taxes_id": [Command.clear()],
                "property_account_income_id": cls.income_account.id,
            }
        )

    @classmethod
    def _plan(cls, product, model, charge_type="recurring", **vals):
        return cls.env["q2c.price.plan"].create(
            {
                "name": f"{product.name} ({model})",
                "product_id": product.id,
                "currency_id": cls.usd.id,
                "charge_type": charge_type,
                "charge_model": model,
                **vals,
            }
        )

    def _quote(self, lines, **vals):
        """lines: [(product, quantity)] or [(product, quantity, {line values})]."""
        return self.env["sale.order"].create(
            {
                "partner_id": self.partner.id,
                "pricelist_id": self.pricelist.id,
                "order_line": [
                    Command.create(
                        {
                            "product_id": spec[0].id,
                            "product_uom_qty": spec[1],
                            **(spec[2] if len(spec) > 2 else {}),
                        }
                    )
                    for spec in lines
                ],
                **vals,
            }
        )

    def _subscribe(self, start=date(2026, 1, 1), term=12, **vals):
        """A confirmed new quote: platform x1, 10 seats at 10% off, from ``start``."""
        order = self._quote(
            [(self.platform, 1), (self.seat, 10, {"discount": 10.0})],
            q2c_start_date=start,
            q2c_term_months=term,
            **vals,
        )
        order.action_confirm()
        return order, order.q2c_subscription_id

    def _line(self, record, product):
        lines = record.order_line if record._name == "sale.order" else record.line_ids
        return lines.filtered(lambda ln: ln.product_id == product)
