from datetime import datetime, time

from odoo import fields
from odoo.tests import HttpCase, new_test_user, tagged

from .usage_common import Q2cUsageCommon


@tagged("post_install", "-at_install")
class TestUsagePortal(Q2cUsageCommon, HttpCase):
    """Customers see their current usage per metric and its estimated amount on the portal."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.partner.write({"is_company": True, "name": "Q2C Usage Portal Customer"})
        cls.portal_user = new_test_user(
            cls.env,
            "q2c_usage_portal",
            groups="base.group_portal",
            password="q2c_usage_portal",
            partner_id=cls.partner.id,
            company_id=cls.company.id,
        )
        cls.today = fields.Date.context_today(cls.env.user)
        cls.sub = cls._q2c_usage_subscription(
            [cls.plan_calls, cls.plan_users], start=cls.today.replace(day=1)
        )
        cls.env["q2c.billing.run"].run_billing(cls.today.replace(day=1))
        stamp = datetime.combine(cls.today, time(0, 30)).isoformat() + "Z"
        cls.env["q2c.usage.event"].ingest(
            [cls._ev(cls.sub, f"p-{i}", cls.metric_calls, 125, stamp) for i in range(4)]
            + [
                cls._ev(cls.sub, f"u-{i}", cls.metric_users, 1, stamp, properties={"user": u})
                for i, u in enumerate(["ann", "bob", "ann"])
            ]
        )

    def test_usage_and_estimated_amount_on_the_portal(self):
        usage = self.sub.sudo()._q2c_portal_usage()
        self.assertEqual(
            sorted((row["metric"], row["quantity"], row["amount"]) for row in usage),
            [("API calls", 500.0, 50.0), ("Active users", 2.0, 14.0)],
        )
        self.authenticate("q2c_usage_portal", "q2c_usage_portal")
        page = self.url_open(f"/my/subscriptions/{self.sub.id}")
        self.assertEqual(page.status_code, 200)
        self.assertIn("o_q2c_portal_usage", page.text)
        self.assertIn("API calls", page.text)
        self.assertIn("500", page.text)
        self.assertIn("50.00", page.text)
        self.assertIn("64.00", page.text)  # the estimated total
