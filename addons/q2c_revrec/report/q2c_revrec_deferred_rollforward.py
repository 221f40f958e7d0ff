from odoo import fields, models
from odoo.tools import SQL

from .q2c_revrec_sql import BILLED_LINES


class Q2cRevrecDeferredRollforward(models.Model):
    """Deferred revenue roll-forward: per contract and month, opening + billed - recognized =
    closing. A negative position is a contract asset (recognized before billed)."""

    _name = "q2c.revrec.deferred.rollforward"
    _description = "Deferred Revenue Roll-forward"
    _auto = False
    _order = "date desc, contract_id"

    contract_id = fields.Many2one("q2c.revenue.contract", string="Contract", readonly=True)
    partner_id = fields.Many2one("res.partner", string="Customer", readonly=True)
    company_id = fields.Many2one("res.company", readonly=True)
    currency_id = fields.Many2one("res.currency", readonly=True)
    date = fields.Date(string="Month", readonly=True)
    opening = fields.Monetary(readonly=True, aggregator="sum")
    billed = fields.Monetary(readonly=True, aggregator="sum")
    recognized = fields.Monetary(readonly=True, aggregator="sum")
    closing = fields.Monetary(readonly=True, aggregator="sum")

    @property
    def _table_query(self):
        return SQL(
            """
            WITH events AS (
                SELECT b.contract_id, date_trunc('month', b.date)::date AS month,
                       b.billed, 0.0 AS recognized
                  FROM (%(billed_lines)s) b
                 UNION ALL
                SELECT l.contract_id, date_trunc('month', COALESCE(l.posted_date, l.date))::date,
                       0.0, l.amount
                  FROM q2c_revenue_schedule_line l
                 WHERE l.state = 'posted' AND l.line_type = 'revenue'
            ), bounds AS (
                SELECT contract_id, MIN(month) AS first_month, MAX(month) AS last_month
                  FROM events GROUP BY contract_id
            ), months AS (
                SELECT b.contract_id, gs::date AS month
                  FROM bounds b,
                       generate_series(b.first_month, b.last_month, interval '1 month') gs
            ), monthly AS (
                SELECT m.contract_id, m.month,
                       COALESCE(SUM(e.billed), 0.0) AS billed,
                       COALESCE(SUM(e.recognized), 0.0) AS recognized
                  FROM months m
             LEFT JOIN events e ON e.contract_id = m.contract_id AND e.month = m.month
              GROUP BY m.contract_id, m.month
            ), running AS (
                SELECT contract_id, month, billed, recognized,
                       SUM(billed - recognized) OVER (
                           PARTITION BY contract_id ORDER BY month
                       ) AS closing
                  FROM monthly
            )
            SELECT ROW_NUMBER() OVER (ORDER BY r.contract_id, r.month) AS id,
                   r.contract_id, c.partner_id, c.company_id, c.currency_id,
                   r.month AS date,
                   r.closing - r.billed + r.recognized AS opening,
                   r.billed, r.recognized, r.closing
              FROM running r
              JOIN q2c_revenue_contract c ON c.id = r.contract_id
            """,
            billed_lines=BILLED_LINES,
        )
