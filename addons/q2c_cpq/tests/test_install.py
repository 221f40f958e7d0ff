from odoo.exceptions import AccessError, ValidationError
from odoo.tests import TransactionCase, new_test_user, tagged


@tagged("post_install", "-at_install")
class TestQ2cCpqInstall(TransactionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.user = new_test_user(cls.env, "q2c_cpq_user", groups="q2c_cpq.group_q2c_cpq_user")
        cls.manager = new_test_user(
            cls.env, "q2c_cpq_manager", groups="q2c_cpq.group_q2c_cpq_manager"
        )
        cls.product = cls.env["product.product"].create({"name": "Seat", "type": "service"})

    def test_groups_ladder(self):
        self.assertTrue(self.manager.has_group("q2c_cpq.group_q2c_cpq_user"))
        self.assertFalse(self.user.has_group("q2c_cpq.group_q2c_cpq_manager"))

    def test_rule_access(self):
        Rule = self.env["q2c.config.rule"]
        with self.assertRaises(AccessError):
            Rule.with_user(self.user).create({"name": "x", "rule_type": "requires"})
        rule = Rule.with_user(self.manager).create(
            {
                "name": "Seats need support",
                "rule_type": "requires",
                "product_ids": [self.product.id],
            }
        )
        self.assertEqual(Rule.with_user(self.user).browse(rule.id).name, "Seats need support")

    def test_rule_quantity_bounds(self):
        with self.assertRaisesRegex(ValidationError, "minimum quantity is above the maximum"):
            self.env["q2c.config.rule"].create(
                {"name": "Bad", "rule_type": "quantity", "min_quantity": 5, "max_quantity": 2}
            )

    def test_approval_rule_discount_range(self):
        with self.assertRaisesRegex(ValidationError, "maximum discount must be between 0 and 100"):
            self.env["q2c.approval.rule"].create({"name": "Bad", "max_discount": 120})
        rule = self.env["q2c.approval.rule"].create({"name": "Deal desk", "max_discount": 20})
        self.assertEqual(rule.approver_group_id, self.env.ref("q2c_cpq.group_q2c_cpq_manager"))
