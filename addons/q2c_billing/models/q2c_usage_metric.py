from odoo import _, api, fields, models
from odoo.exceptions import ValidationError


class Q2cUsageMetric(models.Model):
    """What a usage plan counts (API calls, GB stored, active users...).

    Minimal definition used by the price plans (``q2c.price.plan.metric_id``); the usage
    metering (events, aggregation per period) extends it.
    """

    _name = "q2c.usage.metric"
    _description = "Usage Metric"
    _order = "name, id"
    _check_company_auto = True

    name = fields.Char(required=True, translate=True)
    code = fields.Char(
        required=True,
        help="Identifier sent by integrations with each usage event (unique per company).",
    )
    active = fields.Boolean(default=True)
    aggregation = fields.Selection(
        selection=[
            ("sum", "Sum of quantities"),
            ("max", "Maximum quantity"),
            ("count", "Count of events"),
            ("unique_count", "Count of unique values"),
            ("last", "Last quantity"),
        ],
        required=True,
        default="sum",
        help="How the events of a billing period are turned into the quantity that is rated.",
    )
    unique_property = fields.Char(
        help="Event property whose distinct values are counted (aggregation 'unique_count').",
    )
    uom_id = fields.Many2one("uom.uom", string="Unit of Measure")
    company_id = fields.Many2one(
        "res.company", string="Company", default=lambda self: self.env.company, index=True
    )
    description = fields.Text(translate=True)

    _sql_constraints = [
        (
            "code_company_uniq",
            "unique(code, company_id)",
            "A usage metric with this code already exists in this company.",
        ),
    ]

    @api.constrains("code", "company_id")
    def _check_code_unique(self):
        # The SQL constraint does not see duplicates between metrics without a company (NULL).
        for metric in self:
            duplicate = self.with_context(active_test=False).search_count(
                [
                    ("id", "!=", metric.id),
                    ("code", "=", metric.code),
                    ("company_id", "=", metric.company_id.id),
                ],
                limit=1,
            )
            if duplicate:
                raise ValidationError(
                    _(
                        "Usage metric %(name)s: the code %(code)s is already used in this company.",
                        name=metric.name,
                        code=metric.code,
                    )
                )

    @api.constrains("aggregation", "unique_property")
    def _check_unique_property(self):
        for metric in self:
            if metric.aggregation == "unique_count" and not metric.unique_property:
                raise ValidationError(
                    _(
                        "Usage metric %(name)s: the field 'Unique Property' is required for the"
                        " aggregation 'Count of unique values'.",
                        name=metric.name,
                    )
                )
