from collections import defaultdict

from odoo import Command, _, fields, models
from odoo.exceptions import UserError


class SaleOrder(models.Model):
    _inherit = "sale.order"

    q2c_revenue_contract_ids = fields.One2many(
        "q2c.revenue.contract",
        "sale_order_id",
        string="Revenue Contracts",
        copy=False,
        groups="q2c_revrec.group_q2c_revrec_user",
    )
    q2c_revenue_contract_count = fields.Integer(
        compute="_compute_q2c_revenue_contract_count", groups="q2c_revrec.group_q2c_revrec_user"
    )

    def _compute_q2c_revenue_contract_count(self):
        for order in self:
            order.q2c_revenue_contract_count = len(order.q2c_revenue_contract_ids)

    def _action_confirm(self):
        res = super()._action_confirm()
        self._q2c_create_revenue_contracts()
        return res

    def action_q2c_view_revenue_contracts(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "q2c_revrec.q2c_revenue_contract_action"
        )
        action["domain"] = [("sale_order_id", "=", self.id)]
        action["context"] = {"create": False}
        return action

    def _q2c_create_revenue_contracts(self):
        """One revenue contract per confirmed order with products that have a recognition
        method, with an obligation per such line; allocated and activated at once (left in
        draft with a note when an input is missing)."""
        # sudo: contracts are created on behalf of the confirmation, whatever the salesman's
        # revenue recognition rights.
        Contract = self.env["q2c.revenue.contract"].sudo()
        vals_list = []
        for order in self:
            if order.sudo().q2c_revenue_contract_ids:
                continue
            lines = order.order_line.filtered(lambda line: line._q2c_recognition_method())
            if not lines:
                continue
            vals_list.append(order._q2c_prepare_revenue_contract_vals(lines))
        if not vals_list:
            return Contract
        contracts = Contract.create(vals_list)
        for contract in contracts:
            try:
                with self.env.cr.savepoint():
                    contract._action_activate()
            except UserError as error:
                contract.message_post(
                    body=_("The contract was left in draft: %(error)s", error=error.args[0])
                )
        return contracts

    def _q2c_prepare_revenue_contract_vals(self, lines):
        self.ensure_one()
        obligations = [line._q2c_prepare_obligation_vals() for line in lines]
        list_amount = sum(
            self.currency_id.round(vals["quantity"] * vals["price_unit"]) for vals in obligations
        )
        price = sum(lines.mapped("price_subtotal"))
        return {
            "partner_id": self.partner_id.id,
            "company_id": self.company_id.id,
            "currency_id": self.currency_id.id,
            "date": (self.date_order or fields.Datetime.now()).date(),
            "sale_order_id": self.id,
            "transaction_price": self.currency_id.round(price),
            "discount_amount": self.currency_id.round(list_amount - price),
            "obligation_ids": [Command.create(vals) for vals in obligations],
        }

    def _q2c_revenue_schedule_preview(self):
        """Revenue schedule of the contract this order would create, by month:
        ``[{"period": "YYYY-MM", "amount": float}]`` (empty when no line is an obligation or
        an input is missing). Pure: works on new records, writes nothing."""
        self.ensure_one()
        lines = self.order_line.filtered(lambda line: line._q2c_recognition_method())
        if not lines:
            return []
        # sudo: a preview for the quote's reader, whatever their revenue recognition rights.
        contract = (
            self.env["q2c.revenue.contract"]
            .sudo()
            .new(self._q2c_prepare_revenue_contract_vals(lines))
        )
        periods = defaultdict(float)
        try:
            contract._allocate()
            for obligation in contract.obligation_ids:
                obligation._check_schedule_inputs()
                for vals in obligation._prepare_schedule_line_vals_list():
                    periods[vals["date"].strftime("%Y-%m")] += vals["amount"]
        except UserError:
            return []
        currency = self.currency_id
        return [
            {"period": period, "amount": currency.round(amount)}
            for period, amount in sorted(periods.items())
        ]
