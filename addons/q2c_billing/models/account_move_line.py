from odoo import fields, models


class AccountMoveLine(models.Model):
    _inherit = "account.move.line"

    q2c_subscription_id = fields.Many2one(
        "q2c.subscription",
        string="Subscription",
        index="btree_not_null",
        copy=False,
        ondelete="set null",
    )
    q2c_subscription_line_id = fields.Many2one(
        "q2c.subscription.line",
        string="Subscription Line",
        index="btree_not_null",
        copy=False,
        ondelete="set null",
    )
    q2c_period_start = fields.Date(string="Service From", copy=False)
    q2c_period_end = fields.Date(string="Service Until", copy=False)
