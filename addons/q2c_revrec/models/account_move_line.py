from odoo import api, fields, models


class AccountMoveLine(models.Model):
    _inherit = "account.move.line"

    q2c_revenue_contract_id = fields.Many2one(
        "q2c.revenue.contract",
        string="Revenue Contract",
        compute="_compute_q2c_revenue_contract_id",
        store=True,
        readonly=False,
        index="btree_not_null",
        copy=False,
        groups="q2c_revrec.group_q2c_revrec_user",
        help="Revenue contract this invoice line bills: from the sale order line's performance "
        "obligation, or set by hand for manual contracts.",
    )
    q2c_revrec_role = fields.Selection(
        [
            ("revenue", "Revenue"),
            ("deferred", "Contract liability"),
            ("unbilled", "Contract asset"),
        ],
        string="Recognition Role",
        readonly=True,
        copy=False,
    )

    @api.depends("sale_line_ids.q2c_obligation_ids.contract_id", "q2c_subscription_id")
    def _compute_q2c_revenue_contract_id(self):
        """From the sale order line's obligation, else the subscription's revenue contract in
        effect on the first day of service billed (lines of billing runs), else kept (set by
        hand)."""
        Sub = self.env["q2c.subscription"]
        by_subscription = Sub._q2c_contracts_of_subscriptions(self.q2c_subscription_id.ids)
        for line in self:
            contract = line.sale_line_ids.q2c_obligation_ids.contract_id[:1]
            if not contract and line.q2c_subscription_id:
                contract = Sub._q2c_pick_contract(
                    by_subscription.get(line.q2c_subscription_id.id), line.q2c_period_start
                )
            line.q2c_revenue_contract_id = contract or line.q2c_revenue_contract_id

    def _compute_account_id(self):
        """Customer invoice lines of products that defer revenue go to the deferred revenue
        account (contract liability) instead of the product's income account."""
        res = super()._compute_account_id()
        for line in self:
            if (
                line.display_type == "product"
                and line.product_id.q2c_defer_revenue
                and line.move_id.is_sale_document(include_receipts=True)
            ):
                deferred = line.product_id.product_tmpl_id.with_company(
                    line.company_id
                )._q2c_get_revrec_accounts()["deferred"]
                if deferred:
                    fiscal_position = line.move_id.fiscal_position_id
                    line.account_id = (
                        fiscal_position.map_account(deferred) if fiscal_position else deferred
                    )
        return res
