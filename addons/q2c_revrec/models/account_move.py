from odoo import fields, models


class AccountMove(models.Model):
    _inherit = "account.move"

    q2c_revrec_run_id = fields.Many2one(
        "q2c.revrec.run",
        string="Recognition Run",
        readonly=True,
        copy=False,
        index="btree_not_null",
        groups="q2c_revrec.group_q2c_revrec_user",
    )
