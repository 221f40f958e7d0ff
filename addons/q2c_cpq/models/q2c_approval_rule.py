from odoo import api, fields, models, _
from odoo.exceptions import ValidationError


class Q2cApprovalRule(models.Model):
    _name = "q2c.approval.rule"
    _description = "Quote Approval Rule"
    _order = "sequence, id"

    name = fields.Char(required=True, translate=True)
    sequence = fields.Integer(
        string="Level", default=1, help="Approval level: lower levels approve first."
    )
    active = fields.Boolean(default=True)
    company_id = fields.Many2one("res.company", default=lambda self: self.env.company)
    max_discount = fields.Float(
        string="Maximum Discount (%)",
        help="A quote with a line discounted above this percentage needs this approval.",
    )
    min_amount = fields.Monetary(
        string="Minimum Amount",
        currency_field="currency_id",
        help="A quote whose untaxed total is above this amount needs this approval.",
    )
    currency_id = fields.Many2one(related="company_id.currency_id")
    approver_group_id = fields.Many2one(
        "res.groups",
        required=True,
        default=lambda self: self.env.ref("q2c_cpq.group_q2c_cpq_manager", raise_if_not_found=False),
    )

    @api.constrains("max_discount", "min_amount")
    def _check_thresholds(self):
        for rule in self:
            if not 0 <= rule.max_discount <= 100:
                raise ValidationError(
                    _("Rule %(name)s: the maximum discount must be between 0 and 100.", name=rule.name)
                )
            if rule.min_amount < 0:
                raise ValidationError(
                    _("Rule %(name)s: the minimum amount cannot be negative.", name=rule.name)
                )
