from odoo import _, api, fields, models
from odoo.exceptions import ValidationError


class Q2cPriceTier(models.Model):
    """One tier of a graduated or volume price plan.

    ``up_to`` is the last unit of the tier, inclusive; 0 (or empty) means no upper bound and
    is allowed on the last tier only. A tier covers the quantities in
    (previous tier's ``up_to``, ``up_to``].
    """

    _name = "q2c.price.tier"
    _description = "Price Plan Tier"
    _order = "plan_id, sequence, id"

    plan_id = fields.Many2one(
        "q2c.price.plan", string="Price Plan", required=True, ondelete="cascade", index=True
    )
    sequence = fields.Integer(default=10)
    up_to = fields.Float(
        string="Up To",
        digits="Product Unit of Measure",
        help="Last unit of this tier, inclusive. 0 = no upper bound (last tier only).",
    )
    # Prices at full precision (no digits): rating rounds once per line, to the currency.
    unit_price = fields.Float(help="Price of each unit priced in this tier.")
    flat_price = fields.Float(
        help="Fixed fee added once when the tier is reached (graduated) or when the total "
        "quantity falls in it (volume).",
    )
    currency_id = fields.Many2one(related="plan_id.currency_id")
    company_id = fields.Many2one(related="plan_id.company_id", store=True, index=True)

    @api.constrains("up_to", "sequence")
    def _check_plan_tiers(self):
        # Tiers written directly (not through the plan) must keep the plan's tiers valid.
        self.plan_id._check_tiers()

    @api.constrains("up_to", "unit_price", "flat_price")
    def _check_non_negative(self):
        labels = {
            "up_to": _("Up To"),
            "unit_price": _("Unit Price"),
            "flat_price": _("Flat Price"),
        }
        for tier in self:
            for fname, label in labels.items():
                if tier[fname] < 0:
                    raise ValidationError(
                        _(
                            "Price plan %(plan)s: the tier field '%(field)s' cannot be"
                            " negative (%(value)s).",
                            plan=tier.plan_id.display_name,
                            field=label,
                            value=tier[fname],
                        )
                    )
