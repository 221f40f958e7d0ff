from odoo import api, fields, models
from odoo.tools import SQL


class Q2cUsageSummary(models.Model):
    """Usage of the current period per usage line of each subscription (a SQL view, as
    ``sale.report``): one row per line whose plan is a usage plan, its id the line's.

    The current period is the subscription's current billing window (its usage is billed in
    arrears by the next cycle), or from its first billed day (after a trial) while nothing is
    billed, within the line's own start and end dates. Pending and billed events count, under
    the metric's aggregation; unbillable events are left out (see the unbillable usage
    report). The estimated amount is the quantity rated by the line's plan (before tax,
    without late usage).

    Each row aggregates its own events (a lateral subquery on the index (subscription, metric,
    timestamp)): a filter on the subscription or on the id reads only those lines' events,
    whatever the size of the events table.
    """

    _name = "q2c.usage.summary"
    _description = "Current Usage per Usage Line"
    _auto = False
    _order = "subscription_id, line_id"
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
        "q2c.subscription.line": [
            "subscription_id",
            "price_plan_id",
            "start_date",
            "end_date",
            "sequence",
        ],
        "q2c.price.plan": ["charge_type", "metric_id"],
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
    line_id = fields.Many2one("q2c.subscription.line", string="Line", readonly=True)
    partner_id = fields.Many2one("res.partner", string="Customer", readonly=True)
    company_id = fields.Many2one("res.company", string="Company", readonly=True)
    currency_id = fields.Many2one("res.currency", string="Currency", readonly=True)
    price_plan_id = fields.Many2one("q2c.price.plan", string="Usage Plan", readonly=True)
    metric_id = fields.Many2one("q2c.usage.metric", string="Metric", readonly=True)
    period_start = fields.Date(string="From", readonly=True)
    period_end = fields.Date(string="Until", readonly=True)
    event_count = fields.Integer(string="Events", readonly=True)
    pending_count = fields.Integer(string="Not Billed", readonly=True)
    quantity = fields.Float(digits=(16, 6), readonly=True)
    estimated_amount = fields.Monetary(
        string="Estimated Amount", compute="_compute_estimated_amount", currency_field="currency_id"
    )

    @property
    def _table_query(self):
        Event = self.env["q2c.usage.event"]
        return SQL(
            """
            SELECT l.id AS id,
                   l.id AS line_id,
                   s.id AS subscription_id,
                   s.partner_id AS partner_id,
                   s.company_id AS company_id,
                   s.currency_id AS currency_id,
                   p.id AS price_plan_id,
                   m.id AS metric_id,
                   w.period_start AS period_start,
                   w.period_end AS period_end,
                   COALESCE(u.event_count, 0) AS event_count,
                   COALESCE(u.pending_count, 0) AS pending_count,
                   COALESCE(u.quantity, 0) AS quantity
              FROM q2c_subscription_line l
              JOIN q2c_subscription s ON s.id = l.subscription_id
              JOIN q2c_price_plan p ON p.id = l.price_plan_id AND p.charge_type = 'usage'
              JOIN q2c_usage_metric m ON m.id = p.metric_id
             CROSS JOIN LATERAL (
                   SELECT GREATEST(
                              COALESCE(
                                  s.current_period_start,
                                  CASE WHEN s.trial_end_date >= s.start_date
                                       THEN s.trial_end_date + 1 ELSE s.start_date END
                              ),
                              l.start_date
                          ) AS period_start,
                          LEAST(s.current_period_end, l.end_date) AS period_end
                   ) w
              LEFT JOIN LATERAL (
                   SELECT COUNT(e.id) AS event_count,
                          COUNT(e.id) FILTER (WHERE e.state = 'pending') AS pending_count,
                          %(quantity)s AS quantity
                     FROM q2c_usage_event e
                    WHERE e.subscription_id = s.id
                      AND e.metric_id = m.id
                      AND e.timestamp >= w.period_start
                      AND (w.period_end IS NULL OR e.timestamp < w.period_end + 1)
                      AND e.state IN ('pending', 'billed')
                   ) u ON TRUE
            """,
            quantity=Event._q2c_aggregate_sql("e", "m", SQL("TRUE")),
        )

    @api.depends("price_plan_id", "quantity")
    def _compute_estimated_amount(self):
        for row in self:
            plan = row.price_plan_id
            row.estimated_amount = plan._q2c_rate(row.quantity)["amount"] if plan else 0.0
