from odoo.tests import HttpCase, new_test_user, tagged

from .common import Q2cCpqCommon


@tagged("post_install", "-at_install")
class TestQ2cQuoteTours(Q2cCpqCommon, HttpCase):
    """Browser tours (headless Chromium; a missing browser fails the run, see
    scripts/odoo_test_summary.py): quote with a configuration violation fixed, approval
    requested by the salesperson and granted by the manager, signature by the customer on the
    portal, then the subscription checked here."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env["q2c.config.rule"].search([]).active = False
        cls.env["q2c.approval.rule"].search([]).active = False
        cls.tour_platform = cls._create_product("Tour Platform", 500.0, categ=cls.categ_saas)
        cls.tour_users = cls._create_product("Tour User Licence", 20.0, categ=cls.categ_saas)
        cls.plan_platform = cls._create_plan(cls.tour_platform, "flat", flat_price=500.0)
        cls.plan_users = cls._create_plan(cls.tour_users, "per_unit", unit_price=20.0)
        cls._create_rule(
            "requires",
            triggers=cls.tour_users,
            targets=cls.tour_platform,
            severity="error",
            message="User licences need the platform.",
        )
        cls.manager = new_test_user(
            cls.env,
            "q2c_tour_manager",
            groups="sales_team.group_sale_manager,sale.group_discount_per_so_line",
            name="Mia Manager",
        )
        cls.env["q2c.approval.rule"].create(
            {
                "name": "Discount above 10%",
                "max_discount": 10.0,
                "approver_group_id": cls.env.ref("sales_team.group_sale_manager").id,
            }
        )
        cls.env.ref("sale.group_discount_per_so_line").users |= cls.salesman
        cls.customer = new_test_user(
            cls.env,
            "q2c_tour_portal",
            groups="base.group_portal",
            name="Tara Tour Customer",
            email="tara@customer.example",
        )

    def test_quote_violation_approval_signature_subscription(self):
        Order = self.env["sale.order"]
        self.start_tour("/odoo/sales/new", "q2c_cpq_salesperson_quote", login="q2c_salesman")
        order = Order.search([("partner_id", "=", self.customer.partner_id.id)])
        self.assertEqual(len(order), 1)
        self.assertEqual(order.user_id, self.salesman)
        lines = {line.product_id: line for line in order.order_line}
        self.assertEqual(set(lines), {self.tour_users, self.tour_platform})
        self.assertEqual(lines[self.tour_platform].discount, 20.0)
        self.assertFalse(order.q2c_check_configuration())
        self.assertEqual(order.q2c_approval_state, "pending")
        self.assertEqual(order.q2c_approval_ids.mapped("state"), ["pending"])

        self.start_tour(
            f"/odoo/sales/{order.id}", "q2c_cpq_manager_approval", login="q2c_tour_manager"
        )
        self.assertEqual(order.q2c_approval_state, "approved")
        self.assertEqual(order.q2c_approval_ids.user_id, self.manager)

        # The salesperson sends the approved quote (marked as sent: the customer follows it).
        order.write({"require_signature": True, "require_payment": False})
        order.with_user(self.salesman).action_quotation_sent()
        self.start_tour(
            order.get_portal_url(), "q2c_cpq_customer_signature", login="q2c_tour_portal"
        )
        self.assertEqual(order.state, "sale")
        self.assertEqual(order.signed_by, "Tara Tour Customer")
        sub = order.q2c_subscription_id
        self.assertTrue(sub)
        self.assertEqual(sub.state, "active")
        self.assertEqual(sub.partner_id, self.customer.partner_id)
        self.assertEqual(
            sorted((ln.product_id.name, ln.quantity, ln.discount) for ln in sub.line_ids),
            [("Tour Platform", 1.0, 20.0), ("Tour User Licence", 1.0, 0.0)],
        )
        # 500.00 - 20% + 1 x 20.00 a month
        self.assertEqual(sub.mrr, 420.0)
        self.assertEqual(sub.line_ids.price_plan_id, self.plan_platform | self.plan_users)
