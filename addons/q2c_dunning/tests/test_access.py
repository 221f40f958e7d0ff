from odoo.exceptions import AccessError
from odoo.tests import new_test_user, tagged

from .common import Q2cDunningCommon


@tagged("post_install", "-at_install")
class TestDunningAccess(Q2cDunningCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        companies = cls.env.company.ids
        cls.dunning_user = new_test_user(
            cls.env,
            "q2c_dun_collector",
            groups="q2c_dunning.group_q2c_dunning_user",
            company_id=cls.env.company.id,
            company_ids=companies,
        )
        cls.billing_user = new_test_user(
            cls.env,
            "q2c_dun_billing_only",
            groups="q2c_billing.group_q2c_billing_user,account.group_account_invoice",
            company_id=cls.env.company.id,
            company_ids=companies,
        )

    def test_dunning_user_works_cases_but_does_not_run(self):
        __, invoice, __ = self._dun_failed_invoice()
        case = self._dun_case(invoice).with_user(self.dunning_user)
        self.assertEqual(case.state, "open")
        self.assertEqual(case.log_ids.mapped("action"), ["open"])
        case.action_pause()
        case.action_resume()
        self.assertEqual(case.state, "open")
        with self.assertRaises(AccessError):
            self.env["q2c.dunning.run"].with_user(self.dunning_user).run_dunning("2026-03-03")
        with self.assertRaises(AccessError):
            self.env["q2c.dunning.policy"].with_user(self.dunning_user).create({"name": "Mine"})

    def test_billing_user_without_dunning_group_sees_no_case(self):
        __, invoice, __ = self._dun_failed_invoice()
        with self.assertRaises(AccessError):
            self._dun_case(invoice).with_user(self.billing_user).read(["state"])

    def test_payment_by_user_without_dunning_rights_recovers(self):
        __, invoice, __ = self._dun_failed_invoice()
        case = self._dun_case(invoice)
        self.env["account.payment.register"].with_user(self.billing_user).with_context(
            active_model="account.move", active_ids=invoice.ids
        ).create({}).action_create_payments()
        self.assertEqual(case.state, "recovered")
        self.assertEqual(case.recovery_channel, "manual")

    def test_multi_company_isolation(self):
        __, invoice, __ = self._dun_failed_invoice()
        other = self.setup_other_company()["company"]
        outsider = new_test_user(
            self.env,
            "q2c_dun_other_company",
            groups="q2c_dunning.group_q2c_dunning_manager",
            company_id=other.id,
            company_ids=other.ids,
        )
        Case = self.env["q2c.dunning.case"].with_user(outsider)
        self.assertFalse(Case.search([]))
        self.assertFalse(self.env["q2c.dunning.analysis"].with_user(outsider).search([]))
        # A run in the other company does not touch this company's cases.
        result = self.env["q2c.dunning.run"].with_user(outsider).run_dunning("2026-03-03")
        self.assertEqual(result["retried"], 0)
        self.assertEqual(self._dun_case(invoice).stage, "new")
