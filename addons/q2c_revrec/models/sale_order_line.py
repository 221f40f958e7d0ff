from odoo import fields, models

from odoo.addons.q2c_billing.tools import period as periods


class SaleOrderLine(models.Model):
    _inherit = "sale.order.line"

    q2c_obligation_ids = fields.One2many(
        "q2c.performance.obligation", "sale_line_id", string="Performance Obligations", copy=False
    )

    def _q2c_recognition_method(self):
        """Recognition method of the line's product (False: the line is no obligation)."""
        self.ensure_one()
        if self.display_type or self.is_downpayment or not self.product_id:
            return False
        return self.product_id.product_tmpl_id._q2c_get_recognition_method()

    def _q2c_prepare_obligation_vals(self):
        """Values of the performance obligation of this line (service dates: the order's
        commitment or order date, for the product's term when ratable)."""
        self.ensure_one()
        order = self.order_id
        method = self._q2c_recognition_method()
        start = (order.commitment_date or order.date_order).date()
        end = False
        months = self.product_id.q2c_term_months
        if method in ("ratable_daily", "ratable_monthly") and months > 0:
            end = periods.term_end(start, months)
        return {
            "sequence": self.sequence,
            "product_id": self.product_id.id,
            "name": self.name,
            "quantity": self.product_uom_qty,
            "price_unit": self.price_unit,
            "recognition_method": method,
            "start_date": start,
            "end_date": end,
            "sale_line_id": self.id,
            "analytic_distribution": self.analytic_distribution,
        }
