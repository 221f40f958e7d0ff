from odoo import Command
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tests import new_test_user, tagged

from .common import Q2cCpqCommon


@tagged("post_install", "-at_install")
class TestQ2cApprovals(Q2cCpqCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env["q2c.config.rule"].search([]).active = False
        cls.env["q2c.approval.rule"].search([]).active = False
        cls.env.ref("sale.group_discount_per_so_line").users |= cls.env.user | cls.salesman
        cls.group_leads = cls.env["res.groups"].create({"name": "Sales Leads (Q2C test)"})
        cls.lead = new_test_user(
            cls.env,
            "q2c_lead",
            groups="sales_team.group_sale_salesman",
            name="Lea Lead",
        )
        cls.lead.groups_id |= cls.group_leads
        cls.director = new_test_user(
            cls.env,
            "q2c_director",
            groups="sales_team.group_sale_salesman,q2c_cpq.group_q2c_cpq_manager",
            name="Dan Director",
        )
        cls.deputy = new_test_user(
            cls.env,
            "q2c_deputy",
            groups="sales_team.group_sale_salesman",
            name="Deb Deputy",
        )
        cls.rule_discount = cls.env["q2c.approval.rule"].create(
            {
                "name": "Discount above 10%",
                "sequence": 1,
                "max_discount": 10.0,
                "approver_group_id": cls.group_leads.id,
            }
        )
        cls.rule_big_deal = cls.env["q2c.approval.rule"].create(
            {
                "name": "Deal above 5,000",
                "sequence": 2,
                "min_amount": 5000.0,
                "approver_group_id": cls.env.ref("q2c_cpq.group_q2c_cpq_manager").id,
            }
        )

    def _quote(self, lines, **vals):
        return self._create_order(lines, user=self.salesman, **vals)

    def _activity_users(self, order):
        activity_type = self.env.ref("q2c_cpq.mail_activity_type_q2c_approval")
        return order.activity_ids.filtered(lambda a: a.activity_type_id == activity_type).user_id

    def test_below_thresholds_no_approval(self):
        order = self._quote([(self.platform, 1, {"discount": 10.0})])
        self.assertEqual(order.q2c_approval_state, "not_required")
        with self.assertRaisesRegex(UserError, "does not need an approval"):
            order.action_q2c_request_approval()
        order.action_confirm()
        self.assertEqual(order.state, "sale")

    def test_discount_threshold_blocks_send_confirm_until_approved(self):
        order = self._quote([(self.platform, 1, {"discount": 15.0})])
        self.assertEqual(order.q2c_approval_state, "pending")
        with self.assertRaisesRegex(
            UserError,
            r"needs an approval before it can be confirmed: Discount above 10% \(discount above 10% on Platform\)",
        ):
            order.action_confirm()
        with self.assertRaisesRegex(UserError, "needs an approval before it can be sent"):
            order.action_quotation_send()
        with self.assertRaisesRegex(UserError, "needs an approval before it can be sent"):
            order.action_quotation_sent()
        order.action_q2c_request_approval()
        self.assertTrue(order.q2c_approval_requested)
        self.assertEqual(order.q2c_approval_level, 1)
        self.assertIn(self.lead, self._activity_users(order))
        with self.assertRaisesRegex(UserError, "already been requested"):
            order.action_q2c_request_approval()
        # The salesperson cannot approve his own quote.
        with self.assertRaisesRegex(AccessError, "Sales Leads"):
            order.action_q2c_approve()
        self.assertFalse(order.with_user(self.salesman).q2c_can_approve)
        self.assertTrue(order.with_user(self.lead).q2c_can_approve)
        order.with_user(self.lead).action_q2c_approve()
        self.assertEqual(order.q2c_approval_state, "approved")
        self.assertFalse(self._activity_users(order))
        step = order.q2c_approval_ids
        self.assertEqual((step.state, step.user_id), ("approved", self.lead))
        order.action_quotation_sent()
        order.action_confirm()
        self.assertEqual(order.state, "sale")
        bodies = " ".join(order.message_ids.mapped("body"))
        self.assertIn("Approval requested.", bodies)
        self.assertIn("Approved at level 1", bodies)

    def test_sequential_levels(self):
        order = self._quote([(self.platform, 6, {"discount": 20.0})])
        self.assertEqual(order.amount_untaxed, 4800.0)
        self.assertEqual(list(order._q2c_get_approval_rules()), [self.rule_discount])
        # A quantity change recomputes the discount (core): write both.
        order.order_line.write({"product_uom_qty": 7, "discount": 20.0})  # 5,600.00
        self.assertEqual(
            list(order._q2c_get_approval_rules()), [self.rule_discount, self.rule_big_deal]
        )
        order.action_q2c_request_approval()
        self.assertEqual(order.q2c_approval_ids.mapped("state"), ["pending", "waiting"])
        self.assertNotIn(self.director, self._activity_users(order))
        # Level 2 cannot approve before level 1.
        with self.assertRaises(AccessError):
            order.with_user(self.director).action_q2c_approve()
        order.with_user(self.lead).action_q2c_approve()
        self.assertEqual(order.q2c_approval_state, "pending")
        self.assertEqual(order.q2c_approval_level, 2)
        self.assertEqual(order.q2c_approval_ids.mapped("state"), ["approved", "pending"])
        self.assertIn(self.director, self._activity_users(order))
        self.assertNotIn(self.lead, self._activity_users(order))
        with self.assertRaises(AccessError):
            order.with_user(self.lead).action_q2c_approve()
        order.with_user(self.director).action_q2c_approve()
        self.assertEqual(order.q2c_approval_state, "approved")
        order.action_confirm()
        self.assertEqual(order.state, "sale")

    def test_delegate_can_approve(self):
        self.rule_discount.delegate_user_id = self.deputy
        order = self._quote([(self.platform, 1, {"discount": 15.0})])
        order.action_q2c_request_approval()
        self.assertIn(self.deputy, self._activity_users(order))
        order.with_user(self.deputy).action_q2c_approve()
        self.assertEqual(order.q2c_approval_state, "approved")

    def test_reject_then_edit_then_request_again(self):
        order = self._quote([(self.platform, 1, {"discount": 30.0})])
        order.action_q2c_request_approval()
        with self.assertRaisesRegex(ValidationError, "reason"):
            order.with_user(self.lead).action_q2c_reject("  ")
        with self.assertRaises(AccessError):
            order.with_user(self.deputy).action_q2c_reject("No way")
        order.with_user(self.lead).action_q2c_reject("30% is too much, 15% at most")
        self.assertEqual(order.q2c_approval_state, "rejected")
        self.assertEqual(order.q2c_approval_ids.decision_note, "30% is too much, 15% at most")
        self.assertFalse(self._activity_users(order))
        with self.assertRaisesRegex(UserError, "rejected by the deal desk"):
            order.action_confirm()
        self.assertIn("30% is too much, 15% at most", " ".join(order.message_ids.mapped("body")))
        # The salesperson lowers the discount: the rejection is reset, approval needed again.
        order.order_line.with_user(self.salesman).discount = 15.0
        self.assertEqual(order.q2c_approval_state, "pending")
        self.assertEqual(order.q2c_approval_ids.mapped("state"), ["cancel"])
        self.assertFalse(order.q2c_approval_requested)
        order.with_user(self.salesman).action_q2c_request_approval()
        self.assertEqual(order.q2c_approval_ids.mapped("state"), ["cancel", "pending"])
        order.with_user(self.lead).action_q2c_approve()
        self.assertEqual(order.q2c_approval_state, "approved")

    def test_reject_wizard(self):
        order = self._quote([(self.platform, 1, {"discount": 30.0})])
        order.action_q2c_request_approval()
        action = order.with_user(self.lead).action_q2c_open_reject_wizard()
        wizard = (
            self.env[action["res_model"]]
            .with_user(self.lead)
            .with_context(**action["context"])
            .create({"reason": "Too cheap"})
        )
        wizard.action_reject()
        self.assertEqual(order.q2c_approval_state, "rejected")

    def test_edit_after_approval_needs_a_new_approval(self):
        order = self._quote([(self.platform, 1, {"discount": 15.0}), (self.users, 5)])
        order.action_q2c_request_approval()
        order.with_user(self.lead).action_q2c_approve()
        self.assertEqual(order.q2c_approval_state, "approved")
        # A price-relevant edit (a quantity) resets the approval.
        self._line(order, self.users).product_uom_qty = 6
        self.assertEqual(order.q2c_approval_state, "pending")
        self.assertIn("The approval was reset", order.message_ids[0].body)
        with self.assertRaisesRegex(UserError, "needs an approval"):
            order.action_confirm()
        order.action_q2c_request_approval()
        order.with_user(self.lead).action_q2c_approve()
        # A new line resets it too; a change that is not price-relevant does not.
        order.note = "<p>Thanks!</p>"
        self.assertEqual(order.q2c_approval_state, "approved")
        order.order_line = [Command.create({"product_id": self.support.id})]
        self.assertEqual(order.q2c_approval_state, "pending")

    def test_billing_terms_change_resets_the_approval(self):
        order = self._quote([(self.platform, 1, {"discount": 15.0})])
        order.action_q2c_request_approval()
        order.with_user(self.lead).action_q2c_approve()
        order.q2c_term_months = 24
        self.assertEqual(order.q2c_approval_state, "pending")

    def test_approval_steps_follow_the_company(self):
        order = self._quote([(self.platform, 1, {"discount": 15.0})])
        order.action_q2c_request_approval()
        other_company = self.env["res.company"].create({"name": "Q2C Other Co"})
        outsider = new_test_user(
            self.env,
            "q2c_outsider",
            groups="sales_team.group_sale_manager,q2c_cpq.group_q2c_cpq_manager",
            company_id=other_company.id,
            company_ids=[other_company.id],
        )
        Step = self.env["q2c.quote.approval"].with_user(outsider)
        self.assertFalse(Step.search([("order_id", "=", order.id)]))
        self.assertEqual(
            len(self.env["q2c.quote.approval"].search([("order_id", "=", order.id)])), 1
        )

    def test_edit_removing_the_need_for_approval(self):
        order = self._quote([(self.platform, 1, {"discount": 15.0})])
        order.action_q2c_request_approval()
        order.order_line.discount = 5.0
        self.assertEqual(order.q2c_approval_state, "not_required")
        order.action_confirm()

    def test_margin_threshold(self):
        self.platform.standard_price = 800.0
        rule = self.env["q2c.approval.rule"].create(
            {
                "name": "Margin below 30%",
                "sequence": 1,
                "min_margin": 30.0,
                "approver_group_id": self.group_leads.id,
            }
        )
        order = self._quote([(self.platform, 1)])  # margin 20%
        self.assertAlmostEqual(order._q2c_margin_percent(), 20.0)
        self.assertEqual(order._q2c_get_approval_rules(), {rule: ["margin 20% below 30%"]})
        self.assertEqual(order.q2c_approval_state, "pending")
        self.platform.standard_price = 600.0
        order.order_line.product_uom_qty = 2  # margin 40%
        self.assertEqual(order.q2c_approval_state, "not_required")

    def test_payment_terms(self):
        term = self.env["account.payment.term"].create({"name": "Net 120"})
        self.env["q2c.approval.rule"].create(
            {
                "name": "Long terms",
                "payment_term_ids": [Command.set(term.ids)],
                "approver_group_id": self.group_leads.id,
            }
        )
        order = self._quote([(self.platform, 1)])
        self.assertEqual(order.q2c_approval_state, "not_required")
        order.payment_term_id = term
        self.assertEqual(order.q2c_approval_state, "pending")

    def test_configuration_errors_block_request(self):
        self.env["q2c.config.rule"].create(
            {
                "name": "Platform needs onboarding",
                "rule_type": "requires",
                "product_ids": [Command.set(self.platform.ids)],
                "target_product_ids": [Command.set(self.onboarding.ids)],
            }
        )
        order = self._quote([(self.platform, 1, {"discount": 15.0})])
        with self.assertRaisesRegex(UserError, "Platform requires Onboarding"):
            order.action_q2c_request_approval()

    def test_amount_threshold_in_company_currency(self):
        eur = self.env.ref("base.EUR")
        eur.active = True
        self.env["res.currency.rate"].search(
            [
                ("currency_id", "in", (eur | self.currency).ids),
            ]
        ).unlink()
        self.env["res.currency.rate"].create(
            {
                "currency_id": eur.id,
                "rate": 0.5,
                "name": "2000-01-01",
                "company_id": self.company.id,
            }
        )
        eur_list = self.env["product.pricelist"].create({"name": "EUR", "currency_id": eur.id})
        order = self._quote([(self.platform, 3)], pricelist_id=eur_list.id)
        # 3 x 1,000 USD list price = 1,500.00 EUR = 3,000.00 USD: below 5,000 USD
        self.assertEqual(order.amount_untaxed, 1500.0)
        self.assertEqual(order.q2c_approval_state, "not_required")
        order.order_line.product_uom_qty = 6  # 3,000 EUR = 6,000 USD
        self.assertEqual(order.q2c_approval_state, "pending")
