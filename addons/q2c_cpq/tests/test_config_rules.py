from odoo import Command
from odoo.exceptions import AccessError, UserError
from odoo.tests import Form, tagged

from .common import Q2cCpqCommon


@tagged("post_install", "-at_install")
class TestQ2cConfigRules(Q2cCpqCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # Keep the rules of other tests (or of the database) out of the way.
        cls.env["q2c.config.rule"].search([]).active = False

    # requires ---------------------------------------------------------

    def test_requires_by_product(self):
        rule = self._create_rule(
            "requires", self.users, self.platform, message="User licences need the platform."
        )
        order = self._create_order([(self.users, 10)])
        user_line = self._line(order, self.users)
        self.assertEqual(
            order.q2c_check_configuration(),
            [
                {
                    "rule_id": rule.id,
                    "severity": "error",
                    "message": "User licences need the platform.",
                    "line_ids": user_line.ids,
                }
            ],
        )
        self.assertTrue(order.q2c_config_has_errors)
        order.order_line = [Command.create({"product_id": self.platform.id, "product_uom_qty": 1})]
        self.assertEqual(order.q2c_check_configuration(), [])
        self.assertFalse(order.q2c_config_has_errors)

    def test_requires_default_message_and_fix(self):
        self._create_rule("requires", self.users, self.platform | self.support)
        order = self._create_order([(self.users, 10)])
        messages = [issue["message"] for issue in order.q2c_check_configuration()]
        self.assertEqual(
            messages,
            [
                "User Licence requires Platform.",
                "User Licence requires Support Seat.",
            ],
        )
        issues = order.q2c_config_issues
        self.assertEqual([i["fix_label"] for i in issues], ["Add Platform", "Add Support Seat"])
        order.action_q2c_apply_fix(issues[0]["key"])
        self.assertEqual(len(self._line(order, self.platform)), 1)
        self.assertEqual(len(order.q2c_check_configuration()), 1)
        order.action_q2c_apply_fixes()
        self.assertEqual(order.q2c_check_configuration(), [])
        with self.assertRaisesRegex(UserError, "no longer applies"):
            order.action_q2c_apply_fix(issues[0]["key"])

    def test_requires_by_category_includes_subcategories(self):
        rule = self._create_rule(
            "requires", targets=self.support, categ_ids=[self.categ_software.id]
        )
        order = self._create_order([(self.platform, 1), (self.onboarding, 1)])
        issues = order.q2c_check_configuration()
        self.assertEqual(len(issues), 1)
        self.assertEqual(issues[0]["rule_id"], rule.id)
        self.assertEqual(issues[0]["line_ids"], self._line(order, self.platform).ids)
        # A product outside the category does not trigger the rule.
        self.assertEqual(self._create_order([(self.onboarding, 1)]).q2c_check_configuration(), [])

    def test_requires_by_attribute_value(self):
        attribute = self.env["product.attribute"].create(
            {
                "name": "Hosting",
                "value_ids": [
                    Command.create({"name": "On premise"}),
                    Command.create({"name": "Cloud"}),
                ],
            }
        )
        on_premise, cloud = attribute.value_ids
        template = self.env["product.template"].create(
            {
                "name": "Server Edition",
                "type": "service",
                "list_price": 100.0,
                "taxes_id": [Command.clear()],
                "attribute_line_ids": [
                    Command.create(
                        {
                            "attribute_id": attribute.id,
                            "value_ids": [Command.set(attribute.value_ids.ids)],
                        }
                    )
                ],
            }
        )
        variant_on_premise = template.product_variant_ids.filtered(
            lambda p: (
                on_premise in p.product_template_attribute_value_ids.product_attribute_value_id
            )
        )
        variant_cloud = template.product_variant_ids - variant_on_premise
        self._create_rule("requires", targets=self.onboarding, attribute_value_ids=[on_premise.id])
        self.assertEqual(
            len(self._create_order([(variant_on_premise, 1)]).q2c_check_configuration()), 1
        )
        self.assertEqual(self._create_order([(variant_cloud, 1)]).q2c_check_configuration(), [])

    def test_rule_without_scope_applies_to_every_quote(self):
        self._create_rule("requires", targets=self.onboarding)
        self.assertEqual(len(self._create_order([(self.users, 1)]).q2c_check_configuration()), 1)
        # An empty quote has nothing to check.
        self.assertEqual(self._create_order([]).q2c_check_configuration(), [])

    # excludes ---------------------------------------------------------

    def test_excludes(self):
        rule = self._create_rule("excludes", self.platform, self.legacy)
        order = self._create_order([(self.platform, 1), (self.legacy, 2), (self.users, 5)])
        issues = order.q2c_check_configuration()
        self.assertEqual(len(issues), 1)
        self.assertEqual(issues[0]["rule_id"], rule.id)
        self.assertEqual(issues[0]["message"], "Platform cannot be sold with Legacy Connector.")
        self.assertEqual(
            sorted(issues[0]["line_ids"]),
            sorted((self._line(order, self.platform) | self._line(order, self.legacy)).ids),
        )
        self.assertEqual(order.q2c_config_issues[0]["fix_label"], "Remove Legacy Connector")
        order.action_q2c_apply_fix(order.q2c_config_issues[0]["key"])
        self.assertFalse(self._line(order, self.legacy))
        self.assertEqual(order.q2c_check_configuration(), [])
        # Without the trigger, the excluded product is fine.
        self.assertEqual(self._create_order([(self.legacy, 1)]).q2c_check_configuration(), [])

    # recommends -------------------------------------------------------

    def test_recommends_is_a_warning_and_never_blocks(self):
        self._create_rule("recommends", self.platform, self.training, severity="error")
        order = self._create_order([(self.platform, 1)])
        issues = order.q2c_check_configuration()
        self.assertEqual(len(issues), 1)
        self.assertEqual(issues[0]["severity"], "warning")
        self.assertEqual(issues[0]["message"], "Training Day is recommended with Platform.")
        self.assertEqual(order.q2c_config_issues[0]["kind"], "recommendation")
        self.assertFalse(order.q2c_config_has_errors)
        order.action_confirm()
        self.assertEqual(order.state, "sale")

    def test_recommendation_fix_adds_product(self):
        self._create_rule("recommends", self.platform, self.training)
        order = self._create_order([(self.platform, 1)])
        order.action_q2c_apply_fix(order.q2c_config_issues[0]["key"])
        self.assertEqual(self._line(order, self.training).product_uom_qty, 1)

    # auto_add ---------------------------------------------------------

    def test_auto_add_on_create_and_write(self):
        self._create_rule("auto_add", self.platform, self.onboarding)
        order = self._create_order([(self.platform, 1)])
        self.assertEqual(self._line(order, self.onboarding).product_uom_qty, 1)
        self.assertEqual(order.q2c_check_configuration(), [])
        other = self._create_order([(self.users, 1)])
        self.assertFalse(self._line(other, self.onboarding))
        other.order_line = [Command.create({"product_id": self.platform.id})]
        self.assertEqual(len(self._line(other, self.onboarding)), 1)

    def test_auto_add_quantity_by_ratio(self):
        self._create_rule("auto_add", self.users, self.support, ratio=0.1)
        order = self._create_order([(self.users, 25)])
        self.assertEqual(self._line(order, self.support).product_uom_qty, 3)

    def test_auto_add_in_form(self):
        self._create_rule("auto_add", self.platform, self.onboarding)
        order_form = Form(self.env["sale.order"])
        order_form.partner_id = self.partner
        with order_form.order_line.new() as line:
            line.product_id = self.platform
        # The onchange added the onboarding line before any save.
        self.assertEqual(len(order_form.order_line), 2)
        order = order_form.save()
        self.assertEqual(len(self._line(order, self.onboarding)), 1)
        self.assertEqual(len(self._line(order, self.platform)), 1)

    # quantity ---------------------------------------------------------

    def test_quantity_min_and_max(self):
        rule = self._create_rule("quantity", self.users, min_quantity=5, max_quantity=100)
        order = self._create_order([(self.users, 3)])
        issues = order.q2c_check_configuration()
        self.assertEqual(
            issues,
            [
                {
                    "rule_id": rule.id,
                    "severity": "error",
                    "message": "User Licence: the quantity 3 is below the minimum 5.",
                    "line_ids": self._line(order, self.users).ids,
                }
            ],
        )
        self.assertEqual(order.q2c_config_issues[0]["fix_label"], "Set User Licence to 5")
        order.action_q2c_apply_fix(order.q2c_config_issues[0]["key"])
        self.assertEqual(self._line(order, self.users).product_uom_qty, 5)
        self.assertEqual(order.q2c_check_configuration(), [])
        self._line(order, self.users).product_uom_qty = 120
        self.assertEqual(
            order.q2c_check_configuration()[0]["message"],
            "User Licence: the quantity 120 is above the maximum 100.",
        )
        order.action_q2c_apply_fixes()
        self.assertEqual(self._line(order, self.users).product_uom_qty, 100)

    def test_quantity_fixes_in_the_line_unit_of_measure(self):
        """Quantity rules count in the product's unit of measure; their fixes set the line's
        quantity in the line's unit (a dozen licences is 12), rounded to stay within the rule."""
        dozen = self.env.ref("uom.product_uom_dozen")
        self._create_rule("quantity", self.users, min_quantity=24, max_quantity=100)
        order = self._create_order([(self.users, 1, {"product_uom": dozen.id})])
        line = self._line(order, self.users)
        self.assertEqual(
            [issue["message"] for issue in order.q2c_check_configuration()],
            ["User Licence: the quantity 12 is below the minimum 24."],
        )
        self.assertEqual(order.q2c_config_issues[0]["fix_label"], "Set User Licence to 2")
        order.action_q2c_apply_fixes()
        self.assertEqual((line.product_uom_qty, line.product_uom), (2.0, dozen))
        self.assertEqual(order.q2c_check_configuration(), [])
        # 10 dozen = 120 licences, 20 too many: 1.67 dozen less (20 / 12 rounded up), 8.33
        # dozen = 99.96 licences.
        line.product_uom_qty = 10
        self.assertEqual(
            order.q2c_check_configuration()[0]["message"],
            "User Licence: the quantity 120 is above the maximum 100.",
        )
        self.assertEqual(order.q2c_config_issues[0]["fix_label"], "Set User Licence to 8.33")
        order.action_q2c_apply_fixes()
        self.assertEqual(line.product_uom_qty, 8.33)
        self.assertEqual(order.q2c_check_configuration(), [])

    def test_quantity_ratio_fix_in_the_line_unit_of_measure(self):
        """One support seat per ten users, the support line in dozens: 300 users need 30
        seats, 12 on the quote (1 dozen); 18 more are 1.5 dozen."""
        dozen = self.env.ref("uom.product_uom_dozen")
        self._create_rule("quantity", self.users, self.support, ratio=0.1)
        order = self._create_order(
            [(self.users, 300), (self.support, 1, {"product_uom": dozen.id})]
        )
        self.assertEqual(
            [issue["message"] for issue in order.q2c_check_configuration()],
            ["Support Seat: 30 needed for 300 User Licence, 12 on the quote."],
        )
        order.action_q2c_apply_fixes()
        support = self._line(order, self.support)
        self.assertEqual((support.product_uom_qty, support.product_uom), (2.5, dozen))
        self.assertEqual(order.q2c_check_configuration(), [])

    def test_quantity_sums_the_lines_of_a_product(self):
        self._create_rule("quantity", self.users, max_quantity=10)
        order = self._create_order([(self.users, 6), (self.users, 6)])
        self.assertEqual(len(order.q2c_check_configuration()), 1)

    def test_quantity_ratio_one_seat_per_ten_users(self):
        rule = self._create_rule(
            "quantity", self.users, self.support, ratio=0.1, severity="warning"
        )
        order = self._create_order([(self.users, 25), (self.support, 2)])
        issues = order.q2c_check_configuration()
        self.assertEqual(len(issues), 1)
        self.assertEqual(issues[0]["rule_id"], rule.id)
        self.assertEqual(issues[0]["severity"], "warning")
        self.assertEqual(
            issues[0]["message"],
            "Support Seat: 3 needed for 25 User Licence, 2 on the quote.",
        )
        order.action_q2c_apply_fix(order.q2c_config_issues[0]["key"])
        self.assertEqual(self._line(order, self.support).product_uom_qty, 3)
        self.assertEqual(order.q2c_check_configuration(), [])
        # 30 users need exactly 3 seats; 31 need 4.
        self._line(order, self.users).product_uom_qty = 30
        self.assertEqual(order.q2c_check_configuration(), [])
        self._line(order, self.users).product_uom_qty = 31
        self.assertEqual(len(order.q2c_check_configuration()), 1)

    def test_quantity_ratio_adds_missing_target(self):
        self._create_rule("quantity", self.users, self.support, ratio=0.1)
        order = self._create_order([(self.users, 5)])
        order.action_q2c_apply_fixes()
        self.assertEqual(self._line(order, self.support).product_uom_qty, 1)

    def test_quantity_min_on_targets_of_category(self):
        self._create_rule(
            "quantity", targets=self.support, categ_ids=[self.categ_saas.id], min_quantity=2
        )
        order = self._create_order([(self.platform, 1)])
        issues = order.q2c_check_configuration()
        self.assertEqual(
            issues[0]["message"], "Support Seat: the quantity 0 is below the minimum 2."
        )
        order.action_q2c_apply_fixes()
        self.assertEqual(self._line(order, self.support).product_uom_qty, 2)

    # scoping by company -----------------------------------------------

    def test_rule_of_another_company_is_ignored(self):
        other_company = self.env["res.company"].create({"name": "Other Co"})
        self._create_rule("requires", self.users, self.platform, company_id=other_company.id)
        self.assertEqual(self._create_order([(self.users, 1)]).q2c_check_configuration(), [])

    # enforcement ------------------------------------------------------

    def test_error_blocks_confirm_with_the_same_message(self):
        self._create_rule("requires", self.users, self.platform, message="Users need the platform.")
        order = self._create_order([(self.users, 10)])
        with self.assertRaisesRegex(UserError, "Users need the platform."):
            order.action_confirm()
        self.assertEqual(order.state, "draft")

    def test_error_blocks_send(self):
        self._create_rule("requires", self.users, self.platform, message="Users need the platform.")
        order = self._create_order([(self.users, 10)])
        with self.assertRaisesRegex(UserError, "Users need the platform."):
            order.action_quotation_send()
        with self.assertRaisesRegex(UserError, "Users need the platform."):
            order.action_quotation_sent()
        with self.assertRaisesRegex(UserError, "Users need the platform."):
            order.with_context(mark_so_as_sent=True).message_post(body="Your quote")
        self.assertEqual(order.state, "draft")
        order.order_line = [Command.create({"product_id": self.platform.id})]
        self.assertEqual(order.action_quotation_send()["res_model"], "mail.compose.message")
        order.action_quotation_sent()
        self.assertEqual(order.state, "sent")
        order.action_confirm()
        self.assertEqual(order.state, "sale")

    def test_warning_does_not_block(self):
        self._create_rule("requires", self.users, self.platform, severity="warning")
        order = self._create_order([(self.users, 10)])
        self.assertEqual(order.q2c_check_configuration()[0]["severity"], "warning")
        order.action_quotation_sent()
        order.action_confirm()
        self.assertEqual(order.state, "sale")

    def test_check_configuration_checks_access(self):
        order = self._create_order([(self.users, 1)])
        outsider = self.env["res.users"].create(
            {
                "name": "Portal Pete",
                "login": "pete",
                "groups_id": [Command.set([self.env.ref("base.group_portal").id])],
            }
        )
        with self.assertRaises(AccessError):
            order.with_user(outsider).q2c_check_configuration()
