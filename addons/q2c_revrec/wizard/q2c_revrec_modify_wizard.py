from odoo import _, api, fields, models
from odoo.exceptions import UserError

from ..models.q2c_revenue_contract_modification import MODIFICATION_KINDS
from ..models.q2c_revrec_selection import RECOGNITION_METHODS


class Q2cRevrecModifyWizard(models.TransientModel):
    _name = "q2c.revrec.modify.wizard"
    _description = "Revenue Contract Modification"

    contract_id = fields.Many2one("q2c.revenue.contract", required=True, readonly=True)
    currency_id = fields.Many2one(related="contract_id.currency_id")
    kind = fields.Selection(MODIFICATION_KINDS, required=True, default="prospective")
    date = fields.Date(string="Effective Date", required=True, default=fields.Date.context_today)
    consideration = fields.Monetary(
        string="Price Change",
        help="Change of the transaction price (prospective and catch-up).",
    )
    obligation_id = fields.Many2one(
        "q2c.performance.obligation",
        string="Obligation",
        domain="[('contract_id', '=', contract_id)]",
        help="Obligation whose end date changes (prospective) or that takes the catch-up.",
    )
    new_end_date = fields.Date(string="New End Date")
    product_id = fields.Many2one("product.product", string="Added Product")
    add_ssp = fields.Monetary(string="Added SSP")
    add_price = fields.Monetary(
        string="Added Price", help="Separate contract: the price of the added goods."
    )
    add_start_date = fields.Date(string="Added From")
    add_end_date = fields.Date(string="Added Until")
    add_method = fields.Selection(RECOGNITION_METHODS, string="Added Recognition")

    @api.onchange("product_id")
    def _onchange_product_id(self):
        if self.product_id:
            self.add_method = self.product_id.product_tmpl_id._q2c_get_recognition_method()

    def _prepare_changes(self):
        self.ensure_one()
        changes = {}
        if self.product_id:
            added = {
                "product_id": self.product_id.id,
                "ssp": self.add_ssp,
                "start_date": self.add_start_date or self.date,
                "end_date": self.add_end_date,
            }
            if self.add_method:
                added["recognition_method"] = self.add_method
            if self.kind == "separate":
                added["price"] = self.add_price or self.add_ssp
            changes["add"] = [added]
        if self.kind == "separate":
            return changes
        changes["consideration"] = self.consideration
        if self.kind == "catch_up":
            if self.obligation_id:
                changes["obligation_id"] = self.obligation_id.id
            if self.new_end_date:
                changes["end_date"] = self.new_end_date
        elif self.obligation_id and self.new_end_date:
            changes["update"] = {self.obligation_id.id: {"end_date": self.new_end_date}}
        return changes

    def action_apply(self):
        self.ensure_one()
        self.contract_id.check_access("write")
        if self.kind == "separate" and not self.product_id:
            raise UserError(_("Added Product: a separate contract adds distinct goods."))
        contract = self.contract_id._q2c_modify(self._prepare_changes(), self.date, self.kind)
        return {
            "type": "ir.actions.act_window",
            "res_model": "q2c.revenue.contract",
            "res_id": contract.id,
            "view_mode": "form",
        }
