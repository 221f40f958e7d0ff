from collections import defaultdict

from odoo import api, fields, models
from odoo.tools import SQL


class Q2cUsageSummary(models.Model):
    """Usage of each subscription's current period per metric (a SQL view, as ``sale.report``).

    The current period is the subscription's current billing window (its usage is billed in
    arrears by the next cycle), or from its first billed day (after a trial) while nothing is
    billed. Pending and billed
    events count, each metric under its aggregation; unbillable events are left out (see the
    unbillable usage report). The estimated amount is the quantity rated by the usage plan of
    the subscription's line for the metric (before tax, without late usage).
    """

    _name = "q2c.usage.summary"
    _description = "Current Usage per Metric"
    _auto = False
    _order = "subscription_id, metric_id"
    _rec_name = "metric_id"
    _depends = {
        "q2c.subscription": [
            "current_period_start",
            "current_period_end",
            "start_date",
            "trial_end_date",
            "company_id",
            "partner_id",
            "currency_id",
        ],
        "q2c.usage.event": [
            "subscription_id",
            "metric_id",
            "timestamp",
            "state",
            "quantity",
            "properties",
        ],
        "q2c.usage.metric": ["aggregation", "unique_property"],
    }

    subscription_id = fields.Many2one("q2c.subscription", string="Subscription", readonly=True)
    partner_id = fields.Many2one("res.partner", string="Customer", readonly=True)
    company_id = fields.Many2one("res.company", string="Company", readonly=True)
    currency_id = fields.Many2one("res.currency", string="Currency", readonly=True)
    metric_id = fields.Many2one("q2c.usage.metric", string="Metric", readonly=True)
    period_start = fields.Date(string="From", readonly=True)
    period_end = fields.Date(string="Until", readonly=True)
    event_count = fields.Integer(string="Events", readonly=True)
    pending_count = fields.Integer(string="Not Billed", readonly=True)
    quantity = fields.Float(digits=(16, 6), readonly=True)
    price_plan_id = fields.Many2one(
        "q2c.price.plan", string="Usage Plan", compute="_compute_estimate"
    )
    estimated_amount = fields.Monetary(
        string="Estimated Amount", compute="_compute_estimate", currency_field="currency_id"
    )

    @property
    def _table_query(self):
        Event = self.env["q2c.usage.event"]
        return SQL(
            """
            SELECT MIN(e.id) AS id,
                   s.id AS subscription_id,
                   s.partner_id AS partner_id,
                   s.company_id AS company_id,
                   s.currency_id AS currency_id,
                   m.id AS metric_id,
                   w.period_start AS period_start,
                   w.period_end AS period_end,
                   COUNT(e.id) AS event_count,
                   COUNT(e.id) FILTER (WHERE e.state = 'pending') AS pending_count,
                   %(quantity)s AS quantity
              FROM q2c_subscription s
             CROSS JOIN LATERAL (
                   SELECT COALESCE(
                              s.current_period_start,
                              CASE WHEN s.trial_end_date >= s.start_date
                                   THEN s.trial_end_date + 1 ELSE s.start_date END
                          ) AS period_start,
                          s.current_period_end AS period_end
                   ) w
              JOIN q2c_usage_event e
                ON e.subscription_id = s.id
               AND e.state IN ('pending', 'billed')
               AND e.timestamp >= w.period_start
               AND (w.period_end IS NULL OR e.timestamp < w.period_end + 1)
              JOIN q2c_usage_metric m ON m.id = e.metric_id
             GROUP BY s.id, m.id, w.period_start, w.period_end
            """,
            quantity=Event._q2c_aggregate_sql("e", "m", SQL("TRUE")),
        )

    @api.depends("subscription_id", "metric_id", "quantity")
    def _compute_estimate(self):
        plans = defaultdict(lambda: self.env["q2c.price.plan"])
        for line in self.subscription_id.line_ids:
            plan = line.price_plan_id
            if (
                plan.charge_type == "usage"
                and plan.metric_id
                and (line.subscription_id.id, plan.metric_id.id) not in plans
            ):
                plans[(line.subscription_id.id, plan.metric_id.id)] = plan
        for row in self:
            plan = plans[(row.subscription_id.id, row.metric_id.id)]
            row.price_plan_id = plan
            row.estimated_amount = plan._q2c_rate(row.quantity)["amount"] if plan else 0.0
