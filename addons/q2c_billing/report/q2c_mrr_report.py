from odoo import fields, models
from odoo.tools import SQL


def customer_month_mrr_sql(partner_ids=None):
    """Rows ``(company_id, partner_id, month, mrr)``: every customer's MRR at the end of every
    month from its first movement to the current month (cumulative sum of its movements), for
    the customers ``partner_ids`` (all when ``None``)."""
    movements = SQL("q2c_mrr_movement")
    if partner_ids is not None:
        movements = SQL(
            "(SELECT * FROM q2c_mrr_movement WHERE partner_id = ANY(%s))", list(partner_ids)
        )
    return SQL(
        """
        WITH bounds AS (
            SELECT date_trunc('month', MIN(date))::date AS lo,
                   date_trunc('month', GREATEST(MAX(date), CURRENT_DATE))::date AS hi
              FROM %(movements)s mv
        ), months AS (
            SELECT generate_series(lo, hi, interval '1 month')::date AS month FROM bounds
        ), firsts AS (
            SELECT company_id, partner_id, date_trunc('month', MIN(date))::date AS first_month
              FROM %(movements)s mv GROUP BY company_id, partner_id
        ), monthly AS (
            SELECT company_id, partner_id, date_trunc('month', date)::date AS month,
                   SUM(mrr_delta) AS delta
              FROM %(movements)s mv GROUP BY company_id, partner_id, 3
        ), grid AS (
            SELECT f.company_id, f.partner_id, m.month
              FROM firsts f JOIN months m ON m.month >= f.first_month
        )
        SELECT g.company_id, g.partner_id, g.month,
               SUM(COALESCE(mo.delta, 0)) OVER (
                   PARTITION BY g.company_id, g.partner_id ORDER BY g.month
               ) AS mrr
          FROM grid g
          LEFT JOIN monthly mo
            ON mo.company_id = g.company_id AND mo.partner_id = g.partner_id
           AND mo.month = g.month
        """,
        movements=movements,
    )


class Q2cMrrReport(models.Model):
    """MRR and ARR per paying customer at the end of each month (timeline, breakdowns).

    A stored table, refreshed with the movements it derives from (``_q2c_refresh``): reading
    it stays fast on years of history and tens of thousands of customers."""

    _name = "q2c.mrr.report"
    _description = "MRR Timeline"
    _order = "date desc, id desc"
    _rec_name = "date"

    date = fields.Date(string="Month", readonly=True, index=True)
    company_id = fields.Many2one("res.company", readonly=True, index=True)
    currency_id = fields.Many2one("res.currency", readonly=True)
    partner_id = fields.Many2one("res.partner", string="Customer", readonly=True, index=True)
    country_id = fields.Many2one("res.country", readonly=True)
    user_id = fields.Many2one("res.users", string="Salesperson", readonly=True)
    mrr = fields.Monetary(string="MRR", readonly=True)
    arr = fields.Monetary(string="ARR", readonly=True)
    customer_count = fields.Integer(string="Paying Customers", readonly=True)

    def _q2c_refresh(self, partner_ids=None):
        """Recompute the rows of ``partner_ids`` (all customers when ``None``) from the
        movements."""
        self.env["q2c.mrr.movement"].flush_model()
        if partner_ids is None:
            self.env.cr.execute(SQL("DELETE FROM q2c_mrr_report"))
        else:
            self.env.cr.execute(
                SQL("DELETE FROM q2c_mrr_report WHERE partner_id = ANY(%s)", list(partner_ids))
            )
        self.env.cr.execute(
            SQL(
                """
            INSERT INTO q2c_mrr_report (date, company_id, currency_id, partner_id, country_id,
                                        user_id, mrr, arr, customer_count, create_uid,
                                        write_uid, create_date, write_date)
            SELECT cm.month, cm.company_id, c.currency_id, cm.partner_id, p.country_id,
                   p.user_id, cm.mrr, 12 * cm.mrr, 1, %(uid)s, %(uid)s,
                   now() at time zone 'UTC', now() at time zone 'UTC'
              FROM (%(rows)s) cm
              JOIN res_company c ON c.id = cm.company_id
              JOIN res_partner p ON p.id = cm.partner_id
             WHERE cm.mrr > 0
            """,
                rows=customer_month_mrr_sql(partner_ids),
                uid=self.env.uid,
            )
        )
        self.invalidate_model()


class Q2cMrrCohortReport(models.Model):
    """Retention cohorts: customers by the month they first paid, followed month by month
    (customers still paying and their MRR)."""

    _name = "q2c.mrr.cohort.report"
    _description = "Retention Cohorts"
    _auto = False
    _order = "cohort_month desc, months_since"
    _rec_name = "cohort_month"

    cohort_month = fields.Date(string="Cohort", readonly=True)
    date = fields.Date(string="Month", readonly=True)
    months_since = fields.Integer(string="Months Since Start", readonly=True, aggregator=False)
    company_id = fields.Many2one("res.company", readonly=True)
    currency_id = fields.Many2one("res.currency", readonly=True)
    partner_id = fields.Many2one("res.partner", string="Customer", readonly=True)
    country_id = fields.Many2one("res.country", readonly=True)
    customers_retained = fields.Integer(string="Customers Retained", readonly=True)
    mrr = fields.Monetary(string="MRR Retained", readonly=True)

    @property
    def _table_query(self):
        return SQL(
            """
            WITH cohorts AS (
                SELECT company_id, partner_id, date_trunc('month', MIN(date))::date AS cohort
                  FROM q2c_mrr_movement WHERE type = 'new_business'
                 GROUP BY company_id, partner_id
            )
            SELECT r.id, ch.cohort AS cohort_month, r.date,
                   ((extract(year FROM r.date) - extract(year FROM ch.cohort)) * 12
                    + extract(month FROM r.date) - extract(month FROM ch.cohort))::int
                       AS months_since,
                   r.company_id, r.currency_id, r.partner_id, r.country_id,
                   1 AS customers_retained, r.mrr
              FROM q2c_mrr_report r
              JOIN cohorts ch ON ch.company_id = r.company_id AND ch.partner_id = r.partner_id
            """
        )


class Q2cSaasMonthlyReport(models.Model):
    """The monthly MRR bridge of a company: start, movements by type, end, and the churn and
    retention ratios of the month (logo churn, revenue churn, gross and net revenue retention,
    quick ratio, ARPA)."""

    _name = "q2c.saas.monthly.report"
    _description = "Monthly SaaS Metrics"
    _auto = False
    _order = "date desc"
    _rec_name = "date"

    date = fields.Date(string="Month", readonly=True)
    company_id = fields.Many2one("res.company", readonly=True)
    currency_id = fields.Many2one("res.currency", readonly=True)
    mrr_start = fields.Monetary(string="MRR Start", readonly=True, aggregator=False)
    new = fields.Monetary(string="New Business", readonly=True)
    expansion = fields.Monetary(readonly=True)
    reactivation = fields.Monetary(readonly=True)
    contraction = fields.Monetary(readonly=True)
    churn = fields.Monetary(readonly=True)
    net_movement = fields.Monetary(string="Net New MRR", readonly=True)
    mrr_end = fields.Monetary(string="MRR End", readonly=True, aggregator=False)
    customers_start = fields.Integer(readonly=True, aggregator=False)
    customers_end = fields.Integer(readonly=True, aggregator=False)
    customers_churned = fields.Integer(readonly=True)
    logo_churn_pct = fields.Float(string="Logo Churn %", readonly=True, aggregator="avg")
    revenue_churn_pct = fields.Float(string="Revenue Churn %", readonly=True, aggregator="avg")
    gross_retention_pct = fields.Float(
        string="Gross Revenue Retention %", readonly=True, aggregator="avg"
    )
    net_retention_pct = fields.Float(
        string="Net Revenue Retention %", readonly=True, aggregator="avg"
    )
    quick_ratio = fields.Float(readonly=True, aggregator="avg")
    arpa = fields.Monetary(string="ARPA", readonly=True, aggregator="avg")
    ltv = fields.Monetary(
        string="LTV",
        readonly=True,
        aggregator="avg",
        help="ARPA / logo churn rate of the month (0 when no customer churned).",
    )

    @property
    def _table_query(self):
        return SQL(
            """
            WITH paying AS (
                SELECT company_id, date AS month, SUM(mrr) AS mrr_end,
                       COUNT(*) AS customers_end
                  FROM q2c_mrr_report GROUP BY company_id, date
            ), spans AS (
                SELECT company_id, date_trunc('month', MIN(date))::date AS lo,
                       date_trunc('month', GREATEST(MAX(date), CURRENT_DATE))::date AS hi
                  FROM q2c_mrr_movement GROUP BY company_id
            ), per_month AS (
                -- Every month of the company's history, those ending with no paying customer
                -- too (a month where all churned, the months before the next sale).
                SELECT s.company_id, m.month::date AS month,
                       COALESCE(p.mrr_end, 0) AS mrr_end,
                       COALESCE(p.customers_end, 0) AS customers_end
                  FROM spans s
                 CROSS JOIN LATERAL generate_series(s.lo, s.hi, interval '1 month') AS m(month)
                  LEFT JOIN paying p ON p.company_id = s.company_id AND p.month = m.month
            ), moves AS (
                SELECT company_id, date_trunc('month', date)::date AS month,
                       SUM(mrr_delta) FILTER (WHERE type = 'new_business') AS new,
                       SUM(mrr_delta) FILTER (WHERE type = 'expansion') AS expansion,
                       SUM(mrr_delta) FILTER (WHERE type = 'reactivation') AS reactivation,
                       -SUM(mrr_delta) FILTER (WHERE type = 'contraction') AS contraction,
                       -SUM(mrr_delta) FILTER (WHERE type = 'churn') AS churn,
                       COUNT(*) FILTER (WHERE type = 'churn') AS churned
                  FROM q2c_mrr_movement GROUP BY company_id, 2
            ), bridge AS (
                SELECT pm.company_id, pm.month,
                       COALESCE(LAG(pm.mrr_end) OVER w, 0) AS mrr_start,
                       COALESCE(LAG(pm.customers_end) OVER w, 0) AS customers_start,
                       pm.mrr_end, pm.customers_end,
                       COALESCE(mv.new, 0) AS new, COALESCE(mv.expansion, 0) AS expansion,
                       COALESCE(mv.reactivation, 0) AS reactivation,
                       COALESCE(mv.contraction, 0) AS contraction, COALESCE(mv.churn, 0) AS churn,
                       COALESCE(mv.churned, 0) AS churned
                  FROM per_month pm
                  LEFT JOIN moves mv ON mv.company_id = pm.company_id AND mv.month = pm.month
                WINDOW w AS (PARTITION BY pm.company_id ORDER BY pm.month)
            )
            SELECT row_number() OVER (ORDER BY b.month, b.company_id) AS id,
                   b.month AS date, b.company_id, c.currency_id,
                   b.mrr_start, b.new, b.expansion, b.reactivation, b.contraction, b.churn,
                   b.new + b.expansion + b.reactivation - b.contraction - b.churn AS net_movement,
                   b.mrr_end, b.customers_start, b.customers_end,
                   b.churned AS customers_churned,
                   CASE WHEN b.customers_start > 0
                        THEN 100.0 * b.churned / b.customers_start ELSE 0 END AS logo_churn_pct,
                   CASE WHEN b.mrr_start > 0
                        THEN 100.0 * (b.churn + b.contraction) / b.mrr_start ELSE 0 END
                       AS revenue_churn_pct,
                   CASE WHEN b.mrr_start > 0
                        THEN 100.0 * (b.mrr_start - b.churn - b.contraction) / b.mrr_start
                        ELSE 0 END AS gross_retention_pct,
                   CASE WHEN b.mrr_start > 0
                        THEN 100.0 * (b.mrr_start - b.churn - b.contraction + b.expansion)
                             / b.mrr_start
                        ELSE 0 END AS net_retention_pct,
                   CASE WHEN b.churn + b.contraction > 0
                        THEN (b.new + b.expansion + b.reactivation) / (b.churn + b.contraction)
                        ELSE 0 END AS quick_ratio,
                   CASE WHEN b.customers_end > 0 THEN b.mrr_end / b.customers_end ELSE 0 END
                       AS arpa,
                   CASE WHEN b.customers_end > 0 AND b.churned > 0
                        THEN (b.mrr_end / b.customers_end) * b.customers_start / b.churned
                        ELSE 0 END AS ltv
              FROM bridge b
              JOIN res_company c ON c.id = b.company_id
            """
        )
