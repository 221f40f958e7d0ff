from odoo import Command, fields

from odoo.addons.account.tests.common import AccountTestInvoicingCommon


class Q2cRevrecCommon(AccountTestInvoicingCommon):
    """A company with its revenue recognition accounts and journal, and products for each
    recognition method. No demo data."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env.user.groups_id += cls.env.ref("q2c_revrec.group_q2c_revrec_manager")
        cls.env.user.groups_id += cls.env.ref("analytic.group_analytic_accounting")
        cls.company = cls.company_data["company"]
        cls.usd = cls.company.currency_id
        Account = cls.env["account.account"]
        cls.deferred_account = Account.create(
            {
                "name": "Deferred Revenue (test)",
                "code": "212099",
                "account_type": "liability_current",
            }
        )
        cls.unbilled_account = Account.create(
            {"name": "Unbilled Revenue (test)", "code": "131099", "account_type": "asset_current"}
        )
        cls.revenue_account = cls.company_data["default_account_revenue"]
        cls.revrec_journal = cls.env["account.journal"].create(
            {"name": "Revenue Recognition (test)", "code": "RRT", "type": "general"}
        )
        cls.company.write(
            {
                "q2c_deferred_revenue_account_id": cls.deferred_account.id,
                "q2c_unbilled_revenue_account_id": cls.unbilled_account.id,
                "q2c_revrec_journal_id": cls.revrec_journal.id,
            }
        )
        cls.product_saas = cls._q2c_product("SaaS Platform", "ratable_daily", 31.0)
        cls.product_support = cls._q2c_product("Premium Support", "ratable_monthly", 1200.0)
        cls.product_setup = cls._q2c_product("Onboarding", "point_in_time", 500.0)
        cls.product_usage = cls._q2c_product("API Calls", "usage", 0.0)
        cls.product_plain = cls._create_product(name="Plain Goods", lst_price=50.0, type="consu")
        cls.customer = cls.partner_a

    @classmethod
    def _q2c_setup_subscriptions(cls):
        """Billing rights, posted invoices and a flat plan of 100.00 a month for the support
        product (subscription tests)."""
        cls.env.user.groups_id += cls.env.ref("q2c_billing.group_q2c_billing_manager")
        cls.company.q2c_invoice_post = True
        cls.plan_support = cls.env["q2c.price.plan"].create(
            {
                "name": "Support monthly",
                "product_id": cls.product_support.id,
                "currency_id": cls.usd.id,
                "charge_type": "recurring",
                "charge_model": "flat",
                "flat_price": 100.0,
            }
        )

    @classmethod
    def _q2c_product(cls, name, method, price):
        return cls._create_product(
            name=name,
            type="service",
            lst_price=price,
            q2c_recognition_method=method,
            taxes_id=[Command.clear()],
        )

    @classmethod
    def _q2c_contract(cls, price, obligations, date="2026-01-01", currency=None, **vals):
        """Contract with obligations given as dicts (product, ssp, dates, method...)."""
        return cls.env["q2c.revenue.contract"].create(
            {
                "partner_id": cls.partner_a.id,
                "date": date,
                "currency_id": (currency or cls.company.currency_id).id,
                "transaction_price": price,
                "obligation_ids": [Command.create(o) for o in obligations],
                **vals,
            }
        )

    @classmethod
    def _q2c_obligation(cls, product, ssp=None, start=None, end=None, method=None, **vals):
        vals = {"product_id": product.id, **vals}
        if ssp is not None:
            vals["ssp"] = ssp
        if start:
            vals["start_date"] = start
        if end:
            vals["end_date"] = end
        if method:
            vals["recognition_method"] = method
        return vals

    def _q2c_invoice(
        self, contract, amount, date, product=None, post=True, move_type="out_invoice"
    ):
        invoice = self.env["account.move"].create(
            {
                "move_type": move_type,
                "partner_id": contract.partner_id.id,
                "invoice_date": date,
                "date": date,
                "currency_id": contract.currency_id.id,
                "invoice_line_ids": [
                    Command.create(
                        {
                            "product_id": (product or contract.obligation_ids[0].product_id).id,
                            "quantity": 1,
                            "price_unit": amount,
                            "tax_ids": [Command.clear()],
                            "q2c_revenue_contract_id": contract.id,
                        }
                    )
                ],
            }
        )
        if post:
            invoice.action_post()
        return invoice

    def _q2c_schedule(self, contract):
        """{period date (ISO): amount} of the contract's revenue schedule."""
        result = {}
        for line in contract.schedule_line_ids.filtered(lambda line: line.line_type == "revenue"):
            key = fields.Date.to_string(line.date)
            result[key] = contract.currency_id.round(result.get(key, 0.0) + line.amount)
        return result

    def _q2c_balance(self, account, date=None):
        domain = [("account_id", "=", account.id), ("parent_state", "=", "posted")]
        if date:
            domain.append(("date", "<=", date))
        lines = self.env["account.move.line"].search(domain)
        return self.usd.round(sum(lines.mapped("balance")))
