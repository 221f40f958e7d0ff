from odoo import _, api, fields, models


class ProductTemplate(models.Model):
    _inherit = "product.template"

    q2c_price_plan_ids = fields.One2many("q2c.price.plan", "product_tmpl_id", string="Price Plans")
    q2c_price_plan_count = fields.Integer(
        string="Price Plan Count", compute="_compute_q2c_price_plan_count"
    )

    @api.depends("q2c_price_plan_ids")
    def _compute_q2c_price_plan_count(self):
        counts = dict(
            self.env["q2c.price.plan"]._read_group(
                [("product_tmpl_id", "in", self.ids)], ["product_tmpl_id"], ["__count"]
            )
        )
        for template in self:
            template.q2c_price_plan_count = counts.get(template, 0)

    def action_q2c_view_price_plans(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id("q2c_billing.q2c_price_plan_action")
        action["domain"] = [("product_tmpl_id", "=", self.id)]
        action["context"] = {
            "default_product_id": self.product_variant_id.id,
            "search_default_group_by_product": 0,
        }
        action["name"] = _("Price Plans of %(product)s", product=self.display_name)
        return action
