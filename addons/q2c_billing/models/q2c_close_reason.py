from odoo import fields, models


class Q2cCloseReason(models.Model):
    _name = "q2c.close.reason"
    _description = "Subscription Close Reason"
    _order = "sequence, id"

    name = fields.Char(required=True, translate=True)
    sequence = fields.Integer(default=10)
    active = fields.Boolean(default=True)
    is_churn = fields.Boolean(
        string="Counts as Churn",
        default=True,
        help="Closing a subscription for this reason counts as churn in the SaaS metrics.",
    )

    _sql_constraints = [
        ("name_uniq", "unique(name)", "A close reason with this name already exists."),
    ]
