from odoo import fields, models


class Q2cPricePlan(models.Model):
    _inherit = "q2c.price.plan"

    dunning_policy_id = fields.Many2one(
        "q2c.dunning.policy",
        string="Dunning Policy",
        check_company=True,
        help="Dunning policy of the invoices of subscriptions on this plan, unless the customer "
        "has one (the customer's policy comes first; then the first line's plan that has one; "
        "then the company default).",
    )
