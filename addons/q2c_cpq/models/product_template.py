from odoo import _, api, fields, models
from odoo.exceptions import UserError, ValidationError


class ProductTemplate(models.Model):
    _inherit = "product.template"

    q2c_is_bundle = fields.Boolean(
        string="Bundle",
        help="On a quote, this product expands into its components and its price is allocated "
        "to them.",
    )
    q2c_bundle_line_ids = fields.One2many(
        "q2c.bundle.line", "bundle_tmpl_id", string="Bundle Components", copy=True
    )

    @api.constrains("q2c_is_bundle", "q2c_bundle_line_ids")
    def _check_q2c_bundle(self):
        for template in self:
            if template.q2c_is_bundle and not template.q2c_bundle_line_ids:
                raise ValidationError(
                    _(
                        "Bundle %(bundle)s: add at least one component.",
                        bundle=template.display_name,
                    )
                )

    def _q2c_bundle_allocate(self, price, currency, date=None, company=None):
        """Split `price` (one bundle unit, in `currency`) over the bundle's components.

        Fixed components get their fixed amount (converted from the product's currency); the
        rest goes to the proportional components in proportion to list price x quantity (by
        quantity when all list prices are zero), with cumulative rounding so that the parts add
        up exactly to `price`. Without proportional components, the last component takes the
        rest.

        :return: list of (q2c.bundle.line, amount) in component order.
        """
        self.ensure_one()
        company = company or self.env.company
        date = date or fields.Date.context_today(self)
        price = currency.round(price)
        lines = self.q2c_bundle_line_ids
        if not lines:
            return []
        amounts = {}
        for line in lines.filtered(lambda ln: ln.allocation_mode == "fixed"):
            amounts[line] = currency.round(
                (line.currency_id or company.currency_id)._convert(
                    line.fixed_amount, currency, company, date, round=False
                )
            )
        rest = currency.round(price - sum(amounts.values()))
        if currency.compare_amounts(rest, 0) < 0:
            raise UserError(
                _(
                    "Bundle %(bundle)s: the fixed amounts of its components (%(fixed)s) exceed the "
                    "bundle price (%(price)s).",
                    bundle=self.display_name,
                    fixed=currency.format(sum(amounts.values())),
                    price=currency.format(price),
                )
            )
        proportional = lines.filtered(lambda ln: ln.allocation_mode == "proportional")
        if proportional:
            weights = [line.product_id.lst_price * line.quantity for line in proportional]
            if not any(weights):
                weights = [line.quantity for line in proportional]
            total_weight = sum(weights)
            cumulative_weight = 0.0
            allocated = 0.0
            for line, weight in zip(proportional, weights, strict=True):
                cumulative_weight += weight
                cumulative = currency.round(rest * cumulative_weight / total_weight)
                amounts[line] = currency.round(cumulative - allocated)
                allocated = cumulative
        else:
            last = lines[-1]
            amounts[last] = currency.round(amounts[last] + rest)
        return [(line, amounts[line]) for line in lines]
