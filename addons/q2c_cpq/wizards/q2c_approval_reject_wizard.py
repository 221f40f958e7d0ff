from odoo import fields, models


class Q2cApprovalRejectWizard(models.TransientModel):
    _name = "q2c.approval.reject.wizard"
    _description = "Reject a Quote"

    order_id = fields.Many2one("sale.order", required=True, ondelete="cascade")
    reason = fields.Text(required=True)

    def action_reject(self):
        self.ensure_one()
        self.order_id.action_q2c_reject(self.reason)
        return {"type": "ir.actions.act_window_close"}
