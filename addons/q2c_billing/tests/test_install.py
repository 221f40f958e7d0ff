from odoo.exceptions import AccessError
from odoo.tests import TransactionCase, new_test_user, tagged


@tagged("post_install", "-at_install")
class TestQ2cBillingInstall(TransactionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.user = new_test_user(
            cls.env, "q2c_bill_user", groups="q2c_billing.group_q2c_billing_user"
        )
        cls.manager = new_test_user(
            cls.env, "q2c_bill_manager", groups="q2c_billing.group_q2c_billing_manager"
        )

    def test_groups_ladder(self):
        user_group = self.env.ref("q2c_billing.group_q2c_billing_user")
        manager_group = self.env.ref("q2c_billing.group_q2c_billing_manager")
        self.assertIn(user_group, manager_group.implied_ids)
        self.assertTrue(self.manager.has_group("q2c_billing.group_q2c_billing_user"))
        self.assertFalse(self.user.has_group("q2c_billing.group_q2c_billing_manager"))

    def test_close_reasons_loaded(self):
        reasons = self.env["q2c.close.reason"].search([])
        self.assertGreaterEqual(len(reasons), 5)
        self.assertFalse(self.env.ref("q2c_billing.close_reason_upgrade").is_churn)
        self.assertTrue(self.env.ref("q2c_billing.close_reason_price").is_churn)

    def test_close_reason_access(self):
        Reason = self.env["q2c.close.reason"]
        self.assertTrue(Reason.with_user(self.user).search([]))
        with self.assertRaises(AccessError):
            Reason.with_user(self.user).create({"name": "Not allowed"})
        reason = Reason.with_user(self.manager).create({"name": "Budget cut"})
        self.assertEqual(reason.name, "Budget cut")

    def test_configuration_menu_for_managers_only(self):
        menu = self.env.ref("q2c_billing.q2c_close_reason_menu")
        Menu = self.env["ir.ui.menu"]
        self.assertIn(menu.id, Menu.with_user(self.manager)._visible_menu_ids())
        self.assertNotIn(menu.id, Menu.with_user(self.user)._visible_menu_ids())
