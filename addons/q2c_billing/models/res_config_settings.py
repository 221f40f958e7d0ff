from odoo import fields, models


class ResConfigSettings(models.TransientModel):
    _inherit = "res.config.settings"

    q2c_invoice_grouping = fields.Selection(
        related="company_id.q2c_invoice_grouping", readonly=False
    )
    q2c_invoice_post = fields.Boolean(related="company_id.q2c_invoice_post", readonly=False)
    q2c_invoice_send = fields.Boolean(related="company_id.q2c_invoice_send", readonly=False)
    q2c_upgrade_billing = fields.Selection(related="company_id.q2c_upgrade_billing", readonly=False)
    q2c_journal_id = fields.Many2one(related="company_id.q2c_journal_id", readonly=False)
