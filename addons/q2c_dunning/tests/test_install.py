from odoo.exceptions import AccessError, ValidationError
from odoo.tests import TransactionCase, new_test_user, tagged


@tagged("post_install", "-at_install")
class TestQ2cDunningInstall(TransactionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.user = new_test_user(
            cls.env, "q2c_dun_user", groups="q2c_dunning.group_q2c_dunning_user"
        )
        cls.manager = new_test_user(
            cls.env, "q2c_dun_manager", groups="q2c_dunning.group_q2c_dunning_manager"
        )

    def test_default_policy_matches_conventions(self):
        policy = self.env.ref("q2c_dunning.dunning_policy_default")
        by_action = {}
        for step in policy.step_ids:
            by_action.setdefault(step.action, []).append(step.delay_days)
        self.assertEqual(sorted(by_action["retry_payment"]), [1, 3, 5, 7])
        self.assertEqual(sorted(by_action["send_reminder"]), [1, 7, 14])
        self.assertEqual(by_action["suspend"], [21])
        self.assertEqual(by_action["cancel"], [30])

    def test_policy_access(self):
        Policy = self.env["q2c.dunning.policy"]
        self.assertTrue(Policy.with_user(self.user).search([]))
        with self.assertRaises(AccessError):
            Policy.with_user(self.user).create({"name": "Mine"})
        policy = Policy.with_user(self.manager).create(
            {"name": "Gentle", "step_ids": [(0, 0, {"delay_days": 3, "action": "send_reminder"})]}
        )
        self.assertEqual(policy.step_count, 1)

    def test_negative_delay_refused(self):
        with self.assertRaisesRegex(ValidationError, "delay cannot be negative"):
            self.env["q2c.dunning.policy"].create(
                {"name": "Bad", "step_ids": [(0, 0, {"delay_days": -1, "action": "suspend"})]}
            )
