from odoo import Command
from odoo.tests import TransactionCase, new_test_user


class Q2cCpqCommon(TransactionCase):
    """Fixtures of the q2c_cpq tests: products without taxes, a USD pricelist, a customer and
    sales users. No demo data is used."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env = cls.env(context=dict(cls.env.context, tracking_disable=True, mail_notrack=True))
        cls.company = cls.env.company
        cls.currency = cls.company.currency_id
        cls.pricelist = cls.env["product.pricelist"].create(
            {
                "name": "Q2C test list",
                "currency_id": cls.currency.id,
                "company_id": cls.company.id,
            }
        )
        cls.partner = cls.env["res.partner"].create(
            {
                "name": "Acme Corp",
                "email": "buyer@acme.example",
            }
        )
        cls.categ_software = cls.env["product.category"].create({"name": "Software"})
        cls.categ_saas = cls.env["product.category"].create(
            {
                "name": "SaaS",
                "parent_id": cls.categ_software.id,
            }
        )
        cls.categ_services = cls.env["product.category"].create({"name": "Services"})
        cls.platform = cls._create_product("Platform", 1000.0, categ=cls.categ_saas)
        cls.users = cls._create_product("User Licence", 20.0, categ=cls.categ_saas)
        cls.support = cls._create_product("Support Seat", 50.0, categ=cls.categ_services)
        cls.onboarding = cls._create_product("Onboarding", 500.0, categ=cls.categ_services)
        cls.legacy = cls._create_product("Legacy Connector", 300.0, categ=cls.categ_services)
        cls.training = cls._create_product("Training Day", 800.0, categ=cls.categ_services)
        cls.salesman = new_test_user(
            cls.env,
            "q2c_salesman",
            groups="sales_team.group_sale_salesman",
            name="Sam Salesman",
            email="sam@q2c.example",
        )

    @classmethod
    def _create_product(cls, name, price, categ=None, cost=0.0, **vals):
        return cls.env["product.product"].create(
            {
                "name": name,
                "type": "service",
                "list_price": price,
                "standard_price": cost,
                "categ_id": (categ or cls.categ_services).id,
                "taxes_id": [Command.clear()],
                **vals,
            }
        )

    @classmethod
    def _create_order(cls, lines, user=None, **vals):
        """lines: list of (product, quantity) or (product, quantity, {extra line values})."""
        order_lines = []
        for line in lines:
            product, quantity = line[0], line[1]
            extra = line[2] if len(line) > 2 else {}
            order_lines.append(
                Command.create(
                    {
                        "product_id": product.id,
                        "product_uom_qty": quantity,
                        **extra,
                    }
                )
            )
        env = cls.env if user is None else cls.env(user=user)
        return env["sale.order"].create(
            {
                "partner_id": cls.partner.id,
                "pricelist_id": cls.pricelist.id,
                "order_line": order_lines,
                **vals,
            }
        )

    @classmethod
    def _create_rule(cls, rule_type, triggers=None, targets=None, **vals):
        return cls.env["q2c.config.rule"].create(
            {
                "name": vals.pop("name", f"{rule_type} rule"),
                "rule_type": rule_type,
                "product_ids": [Command.set((triggers or cls.env["product.product"]).ids)],
                "target_product_ids": [Command.set((targets or cls.env["product.product"]).ids)],
                **vals,
            }
        )

    def _line(self, order, product):
        return order.order_line.filtered(lambda ln: ln.product_id == product)

    @classmethod
    def _create_plan(cls, product, model="per_unit", charge_type="recurring", **vals):
        tiers = vals.pop("tiers", [])
        return cls.env["q2c.price.plan"].create(
            {
                "name": vals.pop("name", f"{product.name} {model}"),
                "product_id": product.id,
                "currency_id": vals.pop("currency_id", cls.currency.id),
                "charge_type": charge_type,
                "charge_model": model,
                "tier_ids": [
                    Command.create({"sequence": index, "up_to": up_to, "unit_price": unit_price})
                    for index, (up_to, unit_price) in enumerate(tiers)
                ],
                **vals,
            }
        )
