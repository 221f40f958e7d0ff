from odoo import fields, models


class ResConfigSettings(models.TransientModel):
    _inherit = "res.config.settings"

    q2c_deferred_revenue_account_id = fields.Many2one(
        related="company_id.q2c_deferred_revenue_account_id", readonly=False
    )
    q2c_unbilled_revenue_account_id = fields.Many2one(
        related="company_id.q2c_unbilled_revenue_account_id", readonly=False
    )
    q2c_revrec_journal_id = fields.Many2one(
        related="company_id.q2c_revrec_journal_id", readonly=False
    )
    q2c_revrec_hold_doubtful = fields.Boolean(
        related="company_id.q2c_revrec_hold_doubtful", readonly=False
    )
    q2c_revrec_combine_days = fields.Integer(
        related="company_id.q2c_revrec_combine_days", readonly=False
    )
    q2c_revrec_renewal_policy = fields.Selection(
        related="company_id.q2c_revrec_renewal_policy", readonly=False
    )
