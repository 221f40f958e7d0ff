from contextlib import contextmanager
from datetime import date, timedelta
from unittest.mock import patch

from freezegun import freeze_time

from odoo import Command, fields

from odoo.addons.account.tests.common import AccountTestInvoicingCommon

DEMO_TX = "odoo.addons.payment_demo.models.payment_transaction.PaymentTransaction"
DAY0 = date(2026, 3, 2)


class Q2cDunningCommon(AccountTestInvoicingCommon):
    """Fixtures of the dunning tests: a USD company charging subscriptions automatically
    through the ``payment_demo`` provider (tokens whose ``demo_simulated_state`` decides every
    charge), a monthly 100.00 plan without tax, a one-time fee plan and two customers. Invoices
    are subscription invoices posted by hand (lines carrying ``q2c_subscription_id``), dated
    ``DAY0`` unless said otherwise. No demo data."""

    @classmethod
    def get_default_groups(cls):
        return (
            super().get_default_groups()
            | cls.env.ref("q2c_billing.group_q2c_billing_manager")
            | cls.env.ref("q2c_dunning.group_q2c_dunning_manager")
        )

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company = cls.env.company
        cls.usd = cls.company.currency_id
        cls.company.q2c_autopay = True
        cls.company.email = "billing@q2c-seller.example.com"
        cls.env["ir.config_parameter"].sudo().set_param(
            "account_payment.enable_portal_payment", "True"
        )
        cls.policy = cls.env.ref("q2c_dunning.dunning_policy_default")
        # The default policy is the company default: no other policy comes before it.
        cls.env["q2c.dunning.policy"].search([("id", "!=", cls.policy.id)]).active = False
        cls.income_account = cls.company_data["default_account_revenue"]
        cls.product = cls._dun_product("Cloud platform")
        cls.plan = cls._dun_plan(cls.product, 100.0)
        cls.fee_product = cls._dun_product("Late payment fee")
        cls.fee_plan = cls._dun_plan(cls.fee_product, 15.0, charge_type="one_time")
        cls.provider = cls._dun_demo_provider()
        cls.customer = cls.env["res.partner"].create(
            {"name": "Dunned Customer", "email": "ap@dunned-customer.example.com"}
        )
        cls.customer_2 = cls.env["res.partner"].create(
            {"name": "Second Customer", "email": "ap@second-customer.example.com"}
        )
        cls.reason_unpaid = cls.env.ref("q2c_billing.close_reason_unpaid")

    # ------------------------------------------------------------------
    # Fixtures
    # ------------------------------------------------------------------

    @classmethod
    def _dun_product(cls, name):
        return cls.env["product.product"].create(
            {
                "name": name,
                "type": "service",
                "list_price": 1.0,
                "taxes_id": [Command.clear()],
                "property_account_income_id": cls.income_account.id,
            }
        )

    @classmethod
    def _dun_plan(cls, product, price, charge_type="recurring"):
        return cls.env["q2c.price.plan"].create(
            {
                "name": f"{product.name} plan",
                "product_id": product.id,
                "currency_id": cls.usd.id,
                "charge_type": charge_type,
                "charge_model": "flat",
                "flat_price": price,
            }
        )

    @classmethod
    def _dun_demo_provider(cls):
        Provider = cls.env["payment.provider"].sudo()
        provider = Provider.search(
            [("code", "=", "demo"), ("company_id", "=", cls.company.id)], limit=1
        )
        if not provider:
            provider = Provider.search([("code", "=", "demo")], limit=1).copy(
                {"company_id": cls.company.id, "name": "Demo (dunning tests)"}
            )
        provider.write(
            {
                "state": "test",
                "is_published": True,
                "capture_manually": False,
                "journal_id": cls.company_data["default_journal_bank"].id,
                "payment_method_ids": [
                    Command.set(cls.env.ref("payment_demo.payment_method_demo").ids)
                ],
            }
        )
        return provider

    @classmethod
    def _dun_token(cls, partner, state="error", details="4242"):
        return (
            cls.env["payment.token"]
            .sudo()
            .create(
                {
                    "provider_id": cls.provider.id,
                    "payment_method_id": cls.env.ref("payment_demo.payment_method_demo").id,
                    "payment_details": details,
                    "partner_id": partner.id,
                    "provider_ref": f"dun-{state}-{details}-{partner.id}",
                    "demo_simulated_state": state,
                }
            )
        )

    def _dun_subscription(self, partner=None, token=None, start=date(2026, 1, 1), plan=None):
        sub = self.env["q2c.subscription"].create(
            {
                "partner_id": (partner or self.customer).id,
                "currency_id": self.usd.id,
                "start_date": start,
                "payment_token_id": token.id if token else False,
                "line_ids": [
                    Command.create(
                        {
                            "product_id": (plan or self.plan).product_id.id,
                            "price_plan_id": (plan or self.plan).id,
                            "quantity": 1,
                        }
                    )
                ],
            }
        )
        sub.action_activate()
        return sub

    def _dun_invoice(self, sub, amount=100.0, day=DAY0, due=None, post=True):
        """A subscription invoice of ``amount`` dated ``day``, due ``due`` (default: ``day``),
        posted without scheduling the automatic payment (tests charge explicitly)."""
        invoice = self.env["account.move"].create(
            {
                "move_type": "out_invoice",
                "partner_id": sub.partner_id.id,
                "invoice_date": day,
                "invoice_date_due": due or day,
                "currency_id": sub.currency_id.id,
                "invoice_line_ids": [
                    Command.create(
                        {
                            "product_id": self.product.id,
                            "name": f"{sub.name} service",
                            "quantity": 1.0,
                            "price_unit": amount,
                            "tax_ids": [Command.clear()],
                            "q2c_subscription_id": sub.id,
                        }
                    )
                ],
            }
        )
        if post:
            invoice.with_context(q2c_no_autopay=True).action_post()
        return invoice

    def _dun_failed_invoice(self, partner=None, decline_code=None, amount=100.0, day=DAY0):
        """A subscription charged to a failing token, its invoice, and the failed automatic
        payment (hard when ``decline_code`` is a hard decline code): the case is open."""
        partner = partner or self.customer
        token = self._dun_token(partner, "error")
        sub = self._dun_subscription(partner=partner, token=token)
        invoice = self._dun_invoice(sub, amount=amount, day=day)
        with freeze_time(day):
            self._dun_charge(invoice, "error", decline_code=decline_code)
        return sub, invoice, token

    @contextmanager
    def _dun_provider_answer(self, state, decline_code=None):
        """The demo provider answers ``state`` (with ``decline_code``) to every charge."""

        def send(tx):
            data = {"reference": tx.reference, "simulated_state": state}
            if decline_code:
                data["decline_code"] = decline_code
            tx._handle_notification_data("demo", data)

        with patch(f"{DEMO_TX}._send_payment_request", autospec=True, side_effect=send) as mock:
            yield mock

    def _dun_charge(self, invoice, state, decline_code=None):
        with self._dun_provider_answer(state, decline_code):
            return invoice._q2c_autopay()

    def _dun_run(self, day, state=None, decline_code=None):
        """``run_dunning(day)`` with the clock at ``day``; the provider answers ``state`` (or the
        token's simulated state)."""
        with freeze_time(day):
            if state:
                with self._dun_provider_answer(state, decline_code):
                    return self.env["q2c.dunning.run"].run_dunning(fields.Date.to_string(day))
            return self.env["q2c.dunning.run"].run_dunning(fields.Date.to_string(day))

    def _dun_case(self, invoice):
        return self.env["q2c.dunning.case"].search([("invoice_id", "=", invoice.id)])

    def _dun_mails(self, invoice):
        return self.env["mail.mail"].search(
            [("model", "=", "account.move"), ("res_id", "=", invoice.id)], order="id"
        )

    def _dun_results(self, case):
        """``[(action, result)]`` of the claimed steps of ``case`` in order."""
        return [(log.action, log.result) for log in case.log_ids.sorted("id") if log.claim_key]

    def _dun_pay_manually(self, invoice, day):
        with freeze_time(day):
            self.env["account.payment.register"].with_context(
                active_model="account.move", active_ids=invoice.ids
            ).create({"payment_date": day}).action_create_payments()

    def _dun_pay_in_portal(self, invoice, day):
        """The customer pays the invoice online (what the portal's payment form does)."""
        with freeze_time(day):
            tx = (
                self.env["payment.transaction"]
                .sudo()
                .create(
                    {
                        "provider_id": self.provider.id,
                        "payment_method_id": self.env.ref("payment_demo.payment_method_demo").id,
                        "reference": f"{invoice.name}-portal",
                        "amount": invoice.amount_residual,
                        "currency_id": invoice.currency_id.id,
                        "partner_id": invoice.partner_id.id,
                        "operation": "online_redirect",
                        "invoice_ids": [Command.set(invoice.ids)],
                    }
                )
            )
            tx._set_done()
            tx._post_process()
        return tx

    @staticmethod
    def _day(n):
        return DAY0 + timedelta(days=n)
