from contextlib import contextmanager
from datetime import date
from unittest.mock import patch

from odoo import Command

from .common import Q2cSubscriptionCommon

DEMO_TX = "odoo.addons.payment_demo.models.payment_transaction.PaymentTransaction"
Q2C_TX = "odoo.addons.q2c_billing.models.payment_transaction.PaymentTransaction"


class Q2cAutopayCommon(Q2cSubscriptionCommon):
    """Subscriptions charged through the ``payment_demo`` provider (installed in the test
    database template): a demo provider in the test company with a bank journal, and demo tokens
    whose ``demo_simulated_state`` decides the outcome of every charge."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env["ir.config_parameter"].sudo().set_param(
            "account_payment.enable_portal_payment", "True"
        )
        cls.company.q2c_autopay = True
        cls.provider = cls._q2c_demo_provider(cls.company)
        cls.partner.write({"email": "billing@q2c-customer.example.com"})
        cls.token = cls._q2c_token(cls.partner, "done")

    @classmethod
    def _q2c_demo_provider(cls, company):
        Provider = cls.env["payment.provider"].sudo()
        provider = Provider.search(
            [("code", "=", "demo"), ("company_id", "=", company.id)], limit=1
        )
        if not provider:
            base = Provider.search([("code", "=", "demo")], limit=1)
            provider = base.copy({"company_id": company.id, "name": "Demo (Q2C tests)"})
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
    def _q2c_token(cls, partner, state, details="4242"):
        return (
            cls.env["payment.token"]
            .sudo()
            .create(
                {
                    "provider_id": cls.provider.id,
                    "payment_method_id": cls.env.ref("payment_demo.payment_method_demo").id,
                    "payment_details": details,
                    "partner_id": partner.id,
                    "provider_ref": f"q2c-test-{state}-{details}",
                    "demo_simulated_state": state,
                }
            )
        )

    def _q2c_billed_invoice(self, token=None, lines=None, day=date(2026, 1, 1), **vals):
        """A subscription charged to ``token`` and its first invoice, posted by the billing run
        (100.00 + 10 % tax = 110.00 by default)."""
        sub = self._q2c_subscription(
            lines or [(self.plan_platform, 1)],
            payment_token_id=(token or self.token).id,
            start=day,
            **vals,
        )
        invoice = self._invoices(self._run(day))
        self.assertEqual(len(invoice), 1)
        return sub, invoice

    @contextmanager
    def _q2c_provider_answer(self, notification_data=None, exception=None):
        """Mock the provider's answer to the payment request: process ``notification_data``
        (completed with the reference), or raise ``exception`` (a timeout). Yields the mock."""

        def send(tx):
            if exception:
                raise exception
            tx._handle_notification_data("demo", {"reference": tx.reference, **notification_data})

        with patch(f"{DEMO_TX}._send_payment_request", autospec=True, side_effect=send) as mock:
            yield mock

    def _q2c_chatter(self, record):
        """The text of every message of ``record``'s chatter."""
        return " ".join(str(body) for body in record.message_ids.mapped("body"))

    def _q2c_notify(self, tx, state, **extra):
        """A provider notification (webhook) for ``tx``, then what the payment post-processing
        cron does (without its commit)."""
        self.env["payment.transaction"].sudo()._handle_notification_data(
            "demo", {"reference": tx.reference, "simulated_state": state, **extra}
        )
        tx.invalidate_recordset()
        if not tx.is_post_processed:
            tx._post_process()
