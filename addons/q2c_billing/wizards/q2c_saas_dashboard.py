from dateutil.relativedelta import relativedelta

from odoo import api, fields, models


class Q2cSaasDashboard(models.TransientModel):
    """The manager's first screen: the SaaS metrics of a window (default: the last full
    month) with links to the timeline, bridge and cohort reports."""

    _name = "q2c.saas.dashboard"
    _description = "SaaS Metrics Dashboard"

    def _default_date_from(self):
        today = fields.Date.context_today(self)
        return today.replace(day=1) - relativedelta(months=1)

    def _default_date_to(self):
        return fields.Date.context_today(self).replace(day=1) - relativedelta(days=1)

    date_from = fields.Date(required=True, default=lambda self: self._default_date_from())
    date_to = fields.Date(required=True, default=lambda self: self._default_date_to())
    company_id = fields.Many2one("res.company", default=lambda self: self.env.company)
    currency_id = fields.Many2one(related="company_id.currency_id")
    mrr_start = fields.Monetary(string="MRR at Start", compute="_compute_metrics")
    mrr_end = fields.Monetary(string="MRR at End", compute="_compute_metrics")
    arr_end = fields.Monetary(string="ARR at End", compute="_compute_metrics")
    new = fields.Monetary(string="New Business", compute="_compute_metrics")
    expansion = fields.Monetary(compute="_compute_metrics")
    reactivation = fields.Monetary(compute="_compute_metrics")
    contraction = fields.Monetary(compute="_compute_metrics")
    churn = fields.Monetary(compute="_compute_metrics")
    customers_start = fields.Integer(compute="_compute_metrics")
    customers_end = fields.Integer(compute="_compute_metrics")
    customers_churned = fields.Integer(compute="_compute_metrics")
    user_churn_pct = fields.Float(string="Logo Churn %", compute="_compute_metrics")
    revenue_churn_pct = fields.Float(string="Revenue Churn %", compute="_compute_metrics")
    net_revenue_churn_pct = fields.Float(string="Net Revenue Churn %", compute="_compute_metrics")
    quick_ratio = fields.Float(compute="_compute_metrics")
    arpa = fields.Monetary(string="ARPA", compute="_compute_metrics")
    ltv = fields.Monetary(string="LTV", compute="_compute_metrics")

    @api.depends("date_from", "date_to", "company_id")
    def _compute_metrics(self):
        Subscription = self.env["q2c.subscription"]
        for dashboard in self:
            metrics = {}
            if (
                dashboard.date_from
                and dashboard.date_to
                and dashboard.date_from <= dashboard.date_to
            ):
                metrics = Subscription.with_company(dashboard.company_id).saas_metrics(
                    dashboard.date_from, dashboard.date_to
                )
            for name in (
                "mrr_start",
                "mrr_end",
                "new",
                "expansion",
                "reactivation",
                "contraction",
                "churn",
                "customers_start",
                "customers_end",
                "customers_churned",
                "user_churn_pct",
                "revenue_churn_pct",
                "net_revenue_churn_pct",
                "quick_ratio",
                "arpa",
                "ltv",
            ):
                dashboard[name] = metrics.get(name, 0)
            dashboard.arr_end = 12 * metrics.get("mrr_end", 0.0)

    def _q2c_open(self, xmlid):
        action = self.env["ir.actions.act_window"]._for_xml_id(xmlid)
        return action

    def action_open_timeline(self):
        return self._q2c_open("q2c_billing.q2c_mrr_report_action")

    def action_open_bridge(self):
        return self._q2c_open("q2c_billing.q2c_saas_monthly_report_action")

    def action_open_movements(self):
        action = self._q2c_open("q2c_billing.q2c_mrr_movement_action")
        action["domain"] = [("date", ">=", self.date_from), ("date", "<=", self.date_to)]
        return action

    def action_open_cohorts(self):
        return self._q2c_open("q2c_billing.q2c_mrr_cohort_report_action")

    def action_rebuild(self):
        self.env["q2c.mrr.movement"].check_access("unlink")
        self.env["q2c.mrr.movement"]._q2c_rebuild()
        return {"type": "ir.actions.client", "tag": "soft_reload"}
