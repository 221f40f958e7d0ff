from collections import defaultdict

from odoo import _, api, fields, models
from odoo.exceptions import ValidationError


class Q2cUsageMetric(models.Model):
    """What a usage plan counts (API calls, GB stored, active users...).

    Usage plans (``q2c.price.plan.metric_id``) rate the quantity of a period: the events of
    the period (``q2c.usage.event``) aggregated in SQL by ``aggregation`` (sum, max, count,
    count of distinct values of ``unique_property``, last by timestamp). Integrations name a
    metric by its ``code`` (unique per company; the import also finds it by code).
    """

    _name = "q2c.usage.metric"
    _description = "Usage Metric"
    _order = "name, id"
    _check_company_auto = True
    _rec_names_search = ["name", "code"]

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
    plan_ids = fields.One2many("q2c.price.plan", "metric_id", string="Usage Plans")
    event_count = fields.Integer(string="Events", compute="_compute_event_count")

    _sql_constraints = [
        (
            "code_company_uniq",
            "unique(code, company_id)",
            "A usage metric with this code already exists in this company.",
        ),
    ]

    def _compute_event_count(self):
        counts = defaultdict(int)
        if self.ids:
            for metric, count in self.env["q2c.usage.event"]._read_group(
                [("metric_id", "in", self.ids)], ["metric_id"], ["__count"]
            ):
                counts[metric.id] = count
        for metric in self:
            metric.event_count = counts[metric.id]

    @api.ondelete(at_uninstall=False)
    def _unlink_except_usage_events(self):
        # The events table has no foreign key to metrics: "restrict" is enforced here.
        self.env["q2c.usage.event"]._q2c_check_no_usage_events("metric_id", self)

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

    def action_view_events(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id("q2c_billing.q2c_usage_event_action")
        action["domain"] = [("metric_id", "=", self.id)]
        action["context"] = {"create": False, "search_default_group_by_subscription": 1}
        return action
