from odoo import api, fields, models, _
from odoo.exceptions import ValidationError


class Q2cConfigRule(models.Model):
    _name = "q2c.config.rule"
    _description = "Quote Configuration Rule"
    _order = "sequence, id"

    name = fields.Char(required=True, translate=True)
    sequence = fields.Integer(default=10)
    active = fields.Boolean(default=True)
    company_id = fields.Many2one("res.company", default=lambda self: self.env.company)
    rule_type = fields.Selection(
        [
            ("requires", "Requires"),
            ("excludes", "Excludes"),
            ("recommends", "Recommends"),
            ("auto_add", "Adds Automatically"),
            ("quantity", "Quantity Constraint"),
        ],
        required=True,
        default="requires",
    )
    severity = fields.Selection(
        [("error", "Error (blocks)"), ("warning", "Warning")],
        required=True,
        default="error",
    )
    product_ids = fields.Many2many(
        "product.product",
        "q2c_config_rule_trigger_product_rel",
        "rule_id",
        "product_id",
        string="Trigger Products",
        help="Products whose presence on the quote triggers the rule.",
    )
    target_product_ids = fields.Many2many(
        "product.product",
        "q2c_config_rule_target_product_rel",
        "rule_id",
        "product_id",
        string="Target Products",
        help="Products that the trigger products require, exclude, recommend or add.",
    )
    min_quantity = fields.Float(digits="Product Unit of Measure")
    max_quantity = fields.Float(digits="Product Unit of Measure")
    ratio = fields.Float(
        digits="Product Unit of Measure",
        help="Target units needed per trigger unit (e.g. 0.1 = one support seat per 10 users).",
    )
    message = fields.Char(translate=True, help="Shown to the salesperson when the rule is violated.")

    @api.constrains("min_quantity", "max_quantity", "ratio")
    def _check_quantities(self):
        for rule in self:
            if rule.min_quantity < 0 or rule.max_quantity < 0 or rule.ratio < 0:
                raise ValidationError(
                    _("Rule %(name)s: quantities and ratio cannot be negative.", name=rule.name)
                )
            if rule.max_quantity and rule.min_quantity > rule.max_quantity:
                raise ValidationError(
                    _(
                        "Rule %(name)s: the minimum quantity is above the maximum quantity.",
                        name=rule.name,
                    )
                )
