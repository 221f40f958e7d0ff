from odoo import _, models
from odoo.exceptions import UserError


class SaleOrder(models.Model):
    _inherit = "sale.order"

    def action_confirm(self):
        self._q2c_check_dunning_block()
        return super().action_confirm()

    def _q2c_check_dunning_block(self):
        """Refuse new orders of customers whose subscription dunning keeps suspended, when the
        case's policy blocks new orders."""
        partners = self.partner_id.commercial_partner_id
        if not partners:
            return
        cases = (
            self.env["q2c.dunning.case"]
            .sudo()  # sudo: a salesperson may not read dunning cases; only the block is shown
            .search(
                [
                    ("partner_id", "in", partners.ids),
                    ("state", "in", ("open", "paused")),
                    ("suspended", "=", True),
                    ("policy_id.block_new_orders", "=", True),
                ]
            )
        )
        if not cases:
            return
        for order in self:
            blocking = cases.filtered(
                lambda case, order=order: case.partner_id == order.partner_id.commercial_partner_id
            )
            if blocking:
                raise UserError(
                    _(
                        "%(order)s cannot be confirmed: the customer %(customer)s has a "
                        "subscription suspended for non-payment (unpaid invoices: "
                        "%(invoices)s). Collect the payment first.",
                        order=order.name,
                        customer=order.partner_id.commercial_partner_id.display_name,
                        invoices=", ".join(blocking.invoice_id.mapped("name")),
                    )
                )
