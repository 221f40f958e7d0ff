from odoo import _, api, fields, models
from odoo.exceptions import ValidationError


class Q2cBundleLine(models.Model):
    """A component of a bundle product. On a quote, a bundle line expands into one line per
    component (component quantity x bundle quantity) and the bundle's price is allocated to the
    components: `fixed` components get their fixed amount, the rest of the price is split over
    the `proportional` components by list price x quantity (see
    `product.template._q2c_bundle_allocate`)."""

    _name = "q2c.bundle.line"
    _description = "Bundle Component"
    _order = "bundle_tmpl_id, sequence, id"

    bundle_tmpl_id = fields.Many2one(
        "product.template", string="Bundle", required=True, ondelete="cascade", index=True
    )
    sequence = fields.Integer(default=10)
    company_id = fields.Many2one(related="bundle_tmpl_id.company_id", store=True)
    product_id = fields.Many2one(
        "product.product",
        string="Component",
        required=True,
        check_company=True,
        domain=[("q2c_is_bundle", "=", False)],
    )
    quantity = fields.Float(
        default=1.0,
        required=True,
        digits="Product Unit of Measure",
        help="Component units per bundle unit.",
    )
    allocation_mode = fields.Selection(
        [("proportional", "Proportional to List Price"), ("fixed", "Fixed Amount")],
        required=True,
        default="proportional",
    )
    fixed_amount = fields.Monetary(
        currency_field="currency_id",
        help="Part of one bundle unit's price given to this component (all its units together).",
    )
    currency_id = fields.Many2one(related="bundle_tmpl_id.currency_id")

    @api.constrains("quantity", "fixed_amount", "product_id", "bundle_tmpl_id")
    def _check_component(self):
        for line in self:
            if line.quantity <= 0:
                raise ValidationError(
                    _(
                        "Bundle %(bundle)s: the quantity of component %(component)s must be positive.",
                        bundle=line.bundle_tmpl_id.display_name,
                        component=line.product_id.display_name,
                    )
                )
            if line.fixed_amount < 0:
                raise ValidationError(
                    _(
                        "Bundle %(bundle)s: the fixed amount of component %(component)s cannot be "
                        "negative.",
                        bundle=line.bundle_tmpl_id.display_name,
                        component=line.product_id.display_name,
                    )
                )
            if (
                line.product_id.product_tmpl_id == line.bundle_tmpl_id
                or line.product_id.q2c_is_bundle
            ):
                raise ValidationError(
                    _(
                        "Bundle %(bundle)s: component %(component)s cannot be a bundle itself.",
                        bundle=line.bundle_tmpl_id.display_name,
                        component=line.product_id.display_name,
                    )
                )
