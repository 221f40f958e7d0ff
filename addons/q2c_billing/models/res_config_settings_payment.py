from odoo import fields, models


class ResConfigSettings(models.TransientModel):
    _inherit = "res.config.settings"

    q2c_autopay = fields.Boolean(related="company_id.q2c_autopay", readonly=False)
    q2c_portal_change_quantity = fields.Boolean(
        related="company_id.q2c_portal_change_quantity", readonly=False
    )
    q2c_portal_change_plan = fields.Boolean(
        related="company_id.q2c_portal_change_plan", readonly=False
    )
    q2c_portal_pause = fields.Boolean(related="company_id.q2c_portal_pause", readonly=False)
    q2c_portal_close = fields.Boolean(related="company_id.q2c_portal_close", readonly=False)
    q2c_portal_payment_method = fields.Boolean(
        related="company_id.q2c_portal_payment_method", readonly=False
    )
