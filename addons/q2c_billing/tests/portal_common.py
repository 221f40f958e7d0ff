from odoo import fields
from odoo.tests import HttpCase, new_test_user

from .autopay_common import Q2cAutopayCommon


class Q2cPortalCommon(Q2cAutopayCommon, HttpCase):
    """Two customers with a portal user each and a running subscription each, billed for the
    current month (so that today falls in the billed period), charged to demo tokens."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company.write(
            {
                "q2c_portal_change_quantity": True,
                "q2c_portal_change_plan": True,
                "q2c_portal_pause": True,
                "q2c_portal_close": True,
                "q2c_portal_payment_method": True,
            }
        )
        cls.partner.write({"is_company": True, "name": "Q2C Portal Customer A"})
        cls.partner_2.write({"is_company": True, "email": "ap@customer-b.example.com"})
        cls.contact_a = cls.env["res.partner"].create(
            {
                "name": "Alice Buyer",
                "parent_id": cls.partner.id,
                "email": "alice@a.example.com",
            }
        )
        cls.portal_a = new_test_user(
            cls.env,
            "q2c_portal_a",
            groups="base.group_portal",
            password="q2c_portal_a",
            partner_id=cls.contact_a.id,
            company_id=cls.company.id,
        )
        cls.portal_b = new_test_user(
            cls.env,
            "q2c_portal_b",
            groups="base.group_portal",
            password="q2c_portal_b",
            partner_id=cls.partner_2.id,
            company_id=cls.company.id,
        )
        cls.token_b = cls._q2c_token(cls.partner_2, "done", details="9999")
        cls.today = fields.Date.context_today(cls.env.user)
        cls.month_start = cls.today.replace(day=1)
        cls.sub_a = cls._q2c_subscription(
            [(cls.plan_platform, 1), (cls.plan_seat, 5)],
            start=cls.month_start,
            payment_token_id=cls.token.id,
        )
        cls.sub_b = cls._q2c_subscription(
            [(cls.plan_seat, 2)],
            partner=cls.partner_2,
            start=cls.month_start,
            payment_token_id=cls.token_b.id,
        )
        result = cls.env["q2c.billing.run"].run_billing(cls.month_start)
        cls.invoices = cls.env["account.move"].browse(result["invoice_ids"])
        cls.invoice_a = cls.invoices.filtered(lambda move: move.partner_id == cls.partner)
        cls.invoice_b = cls.invoices.filtered(lambda move: move.partner_id == cls.partner_2)
        cls.seat_line_a = cls.sub_a.line_ids.filtered(
            lambda line: line.price_plan_id == cls.plan_seat
        )

    def _q2c_sub_url(self, sub, suffix="", token=None):
        url = f"/my/subscriptions/{sub.id}{suffix}"
        return f"{url}?access_token={token}" if token else url
