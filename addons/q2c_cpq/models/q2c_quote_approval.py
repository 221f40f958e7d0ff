from odoo import api, fields, models


class Q2cQuoteApproval(models.Model):
    """One approval step of a quote: an approval rule that applied when the approval was
    requested, its level, and who decided what and when. Steps of a reset request stay as
    `cancel` for the audit trail."""

    _name = "q2c.quote.approval"
    _description = "Quote Approval Step"
    _order = "order_id, sequence, id"

    order_id = fields.Many2one("sale.order", required=True, ondelete="cascade", index=True)
    company_id = fields.Many2one(related="order_id.company_id", store=True)
    rule_id = fields.Many2one("q2c.approval.rule", required=True, ondelete="restrict")
    sequence = fields.Integer(string="Level", required=True)
    approver_group_id = fields.Many2one(related="rule_id.approver_group_id")
    delegate_user_id = fields.Many2one(related="rule_id.delegate_user_id")
    reason = fields.Char(string="Why", help="The thresholds of the rule the quote crossed.")
    state = fields.Selection(
        [
            ("waiting", "Waiting for a Lower Level"),
            ("pending", "To Approve"),
            ("approved", "Approved"),
            ("rejected", "Rejected"),
            ("cancel", "Reset"),
        ],
        required=True,
        default="waiting",
    )
    user_id = fields.Many2one("res.users", string="Decided By", readonly=True)
    date = fields.Datetime(string="Decided On", readonly=True)
    decision_note = fields.Char(string="Rejection Reason", readonly=True)

    @api.model
    def _q2c_active_domain(self):
        return [("state", "!=", "cancel")]

    def _q2c_can_decide(self, user):
        """Whether `user` may approve or reject this step."""
        self.ensure_one()
        return self.rule_id._q2c_can_approve(user)
