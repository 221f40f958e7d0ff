from odoo import api, fields, models, _
from odoo.exceptions import UserError

# Order line fields whose change makes a granted approval void.
Q2C_APPROVAL_LINE_FIELDS = {
    "product_id",
    "product_uom_qty",
    "product_uom",
    "price_unit",
    "discount",
    "tax_id",
}


class SaleOrderLine(models.Model):
    _inherit = "sale.order.line"

    q2c_is_bundle = fields.Boolean(related="product_template_id.q2c_is_bundle")
    q2c_bundle_parent_id = fields.Many2one(
        "sale.order.line",
        string="Bundle Line",
        ondelete="cascade",
        index="btree_not_null",
        copy=False,
        readonly=True,
    )
    q2c_bundle_child_ids = fields.One2many(
        "sale.order.line", "q2c_bundle_parent_id", string="Bundle Components"
    )
    q2c_bundle_line_id = fields.Many2one(
        "q2c.bundle.line", string="Bundle Component", ondelete="set null", copy=False, readonly=True
    )

    # ------------------------------------------------------------------
    # Computes
    # ------------------------------------------------------------------

    @api.depends("q2c_bundle_parent_id")
    def _compute_discount(self):
        super()._compute_discount()
        # Components follow the discount of their bundle line (also kept in sync on write).
        for line in self.filtered("q2c_bundle_parent_id"):
            line.discount = line.q2c_bundle_parent_id.discount

    def _get_display_price(self):
        self.ensure_one()
        if self.q2c_bundle_parent_id and self.q2c_bundle_line_id:
            unit_prices, _residual = self.q2c_bundle_parent_id._q2c_bundle_unit_prices()
            return unit_prices.get(self.q2c_bundle_line_id, 0.0)
        if self.q2c_is_bundle and self.q2c_bundle_child_ids:
            return self._q2c_bundle_unit_prices()[1]
        return super()._get_display_price()

    # ------------------------------------------------------------------
    # CRUD
    # ------------------------------------------------------------------

    @api.model_create_multi
    def create(self, vals_list):
        lines = super().create(vals_list)
        if not self.env.context.get("q2c_no_line_hooks"):
            lines._q2c_expand_bundles()
            lines.order_id._q2c_after_lines_change(lines)
        return lines

    def write(self, vals):
        if self.env.context.get("q2c_no_line_hooks"):
            return super().write(vals)
        relevant = Q2C_APPROVAL_LINE_FIELDS & set(vals)
        product_changed = self.filtered(
            lambda l: "product_id" in vals and l.product_id.id != vals["product_id"]
        )
        res = super().write(vals)
        bundles = self.filtered(lambda l: l.q2c_is_bundle and not l.display_type)
        if product_changed:
            product_changed.q2c_bundle_child_ids.with_context(q2c_unlink_bundle=True).unlink()
            (product_changed & bundles)._q2c_expand_bundles()
        elif "product_uom_qty" in vals or "product_uom" in vals:
            bundles._q2c_sync_bundle_quantities()
        if "discount" in vals and bundles.q2c_bundle_child_ids:
            bundles.q2c_bundle_child_ids.with_context(q2c_no_line_hooks=True).discount = vals["discount"]
        if relevant or "product_id" in vals:
            self.order_id._q2c_after_lines_change(self, fields_changed=relevant)
        return res

    @api.ondelete(at_uninstall=False)
    def _unlink_except_q2c_bundle_component(self):
        if self.env.context.get("q2c_unlink_bundle"):
            return
        for line in self:
            if line.q2c_bundle_parent_id and line.q2c_bundle_parent_id not in self:
                raise UserError(_(
                    "%(component)s is a component of the bundle %(bundle)s: remove the bundle "
                    "line instead.",
                    component=line.product_id.display_name,
                    bundle=line.q2c_bundle_parent_id.product_id.display_name,
                ))

    def unlink(self):
        orders = self.order_id
        res = super().unlink()
        if not self.env.context.get("q2c_no_line_hooks"):
            orders.exists()._q2c_after_lines_change(self.browse(), fields_changed={"product_id"})
        return res

    # ------------------------------------------------------------------
    # Bundles
    # ------------------------------------------------------------------

    def _q2c_bundle_unit_prices(self):
        """Prices of one unit of each component of this bundle line, and the residual unit price
        left on the bundle line itself (zero unless no quantity-1 component can absorb the
        rounding of per-unit prices).

        :return: ({q2c.bundle.line: unit price}, residual)
        """
        self.ensure_one()
        order = self.order_id
        currency = order.currency_id or self.env.company.currency_id
        bundle_price = currency.round(self._get_display_price_ignore_combo())
        allocation = self.product_template_id._q2c_bundle_allocate(
            bundle_price,
            currency,
            date=order.date_order and order.date_order.date(),
            company=order.company_id or self.env.company,
        )
        unit_prices = {}
        for bundle_line, amount in allocation:
            unit_prices[bundle_line] = currency.round(amount / bundle_line.quantity)
        residual = currency.round(
            bundle_price
            - sum(currency.round(unit_prices[bl] * bl.quantity) for bl, _amount in allocation)
        )
        if not currency.is_zero(residual):
            absorbers = [bl for bl, _amount in allocation if bl.quantity == 1.0]
            if absorbers:
                unit_prices[absorbers[-1]] = currency.round(unit_prices[absorbers[-1]] + residual)
                residual = 0.0
        return unit_prices, residual

    def _q2c_prepare_bundle_component_vals(self, bundle_line):
        self.ensure_one()
        return {
            "order_id": self.order_id.id,
            "product_id": bundle_line.product_id.id,
            "product_uom_qty": bundle_line.quantity * self.product_uom_qty,
            "sequence": self.sequence,
            "discount": self.discount,
            "q2c_bundle_parent_id": self.id,
            "q2c_bundle_line_id": bundle_line.id,
        }

    def _q2c_expand_bundles(self):
        """Create the component lines of the bundle lines among `self`, then price them."""
        bundles = self.filtered(
            lambda l: l.q2c_is_bundle
            and not l.display_type
            and not l.q2c_bundle_child_ids
            and l.order_id.state in ("draft", "sent")
        )
        if not bundles:
            return
        vals_list = [
            line._q2c_prepare_bundle_component_vals(bundle_line)
            for line in bundles
            for bundle_line in line.product_template_id.q2c_bundle_line_ids
        ]
        self.with_context(q2c_no_line_hooks=True).create(vals_list)
        bundles._q2c_reprice_bundles()

    def _q2c_sync_bundle_quantities(self):
        for line in self:
            for child in line.q2c_bundle_child_ids.filtered("q2c_bundle_line_id"):
                child.with_context(q2c_no_line_hooks=True).product_uom_qty = (
                    child.q2c_bundle_line_id.quantity * line.product_uom_qty
                )
        self._q2c_reprice_bundles()

    def _q2c_reprice_bundles(self):
        """Set the allocated prices on the bundle lines `self` and their components."""
        for line in self | self.q2c_bundle_child_ids:
            if line.qty_invoiced:
                continue
            line.with_context(q2c_no_line_hooks=True)._reset_price_unit()
