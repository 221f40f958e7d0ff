from odoo import _, api, fields, models
from odoo.exceptions import UserError
from odoo.tools import SQL


class Q2cRevenueScheduleLine(models.Model):
    _name = "q2c.revenue.schedule.line"
    _description = "Revenue Schedule Line"
    _order = "date, contract_id, obligation_id, id"
    _check_company_auto = True

    obligation_id = fields.Many2one(
        "q2c.performance.obligation",
        string="Obligation",
        required=True,
        ondelete="cascade",
        index=True,
    )
    contract_id = fields.Many2one(
        related="obligation_id.contract_id", store=True, index=True, string="Contract"
    )
    company_id = fields.Many2one(related="obligation_id.company_id", store=True, index=True)
    currency_id = fields.Many2one(related="obligation_id.currency_id", store=True)
    partner_id = fields.Many2one(related="contract_id.partner_id", store=True, string="Customer")
    product_id = fields.Many2one(related="obligation_id.product_id", store=True, string="Product")
    line_type = fields.Selection(
        [("revenue", "Revenue"), ("reclass", "Contract asset / liability netting")],
        default="revenue",
        required=True,
        help="Netting lines carry no revenue: they move an amount between the contract asset "
        "(unbilled) and the contract liability (deferred) when billing catches up.",
    )
    date = fields.Date(required=True, index=True, help="End of the period the revenue belongs to.")
    service_date_from = fields.Date(string="Service From")
    service_date_to = fields.Date(string="Service To")
    amount = fields.Monetary(string="Revenue")
    unbilled_amount = fields.Monetary(
        string="Through Contract Asset",
        readonly=True,
        help="Part of the posting that went to the unbilled revenue account (contract asset) "
        "because recognized revenue exceeded billing; negative when billing caught up.",
    )
    state = fields.Selection(
        [("planned", "Planned"), ("posted", "Posted")],
        default="planned",
        required=True,
        index=True,
        copy=False,
    )
    move_id = fields.Many2one(
        "account.move", string="Journal Entry", readonly=True, copy=False, index="btree_not_null"
    )
    posted_date = fields.Date(
        readonly=True,
        copy=False,
        help="Accounting date of the entry: the period end, or the first open date after a lock "
        "date.",
    )
    run_id = fields.Many2one("q2c.revrec.run", string="Recognition Run", readonly=True, copy=False)

    def init(self):
        res = super().init()
        # One revenue line per obligation and period: the database guarantees that activating
        # or re-running never plans (or posts) a period twice.
        self.env.cr.execute(
            SQL(
                "CREATE UNIQUE INDEX IF NOT EXISTS q2c_revenue_schedule_line_period_uniq"
                " ON q2c_revenue_schedule_line (obligation_id, date) WHERE line_type = 'revenue'"
            )
        )
        self.env.cr.execute(
            SQL(
                "CREATE INDEX IF NOT EXISTS q2c_revenue_schedule_line_planned_idx"
                " ON q2c_revenue_schedule_line (company_id, date) WHERE state = 'planned'"
            )
        )
        return res

    @api.ondelete(at_uninstall=False)
    def _unlink_except_posted(self):
        if self.filtered(lambda line: line.state == "posted"):
            raise UserError(_("Posted revenue schedule lines cannot be deleted."))

    def write(self, vals):
        if {"amount", "date", "obligation_id", "unbilled_amount"} & set(vals) and self.filtered(
            lambda line: line.state == "posted"
        ):
            raise UserError(_("Posted revenue schedule lines cannot be changed."))
        return super().write(vals)
