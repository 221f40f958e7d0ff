from odoo.exceptions import AccessError, ValidationError
from odoo.tests import TransactionCase, new_test_user, tagged


@tagged("post_install", "-at_install")
class TestQ2cRevrecInstall(TransactionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.user = new_test_user(cls.env, "q2c_rev_user", groups="q2c_revrec.group_q2c_revrec_user")
        cls.manager = new_test_user(
            cls.env, "q2c_rev_manager", groups="q2c_revrec.group_q2c_revrec_manager"
        )
        cls.product = cls.env["product.product"].create({"name": "Platform", "type": "service"})

    def test_groups_ladder(self):
        self.assertTrue(self.manager.has_group("q2c_revrec.group_q2c_revrec_user"))

    def test_ssp_access(self):
        Ssp = self.env["q2c.ssp"]
        with self.assertRaises(AccessError):
            Ssp.with_user(self.user).create({"product_id": self.product.id, "price": 100})
        ssp = Ssp.with_user(self.manager).create({"product_id": self.product.id, "price": 100})
        self.assertEqual(ssp.currency_id, self.env.company.currency_id)

    def test_ssp_checks(self):
        with self.assertRaisesRegex(ValidationError, "Platform.*cannot be negative"):
            self.env["q2c.ssp"].create({"product_id": self.product.id, "price": -1})
        with self.assertRaisesRegex(ValidationError, "'Valid From' is after 'Valid To'"):
            self.env["q2c.ssp"].create(
                {
                    "product_id": self.product.id,
                    "price": 1,
                    "date_from": "2026-02-01",
                    "date_to": "2026-01-01",
                }
            )
