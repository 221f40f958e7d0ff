from odoo import fields, models
from odoo.tools import SQL


class Q2cRevrecRpo(models.Model):
    """Remaining performance obligations: the allocated amounts not recognized yet, per
    obligation of the active contracts, split into the next 12 months (planned periods ending
    in the current month and the 11 following ones, including overdue periods not posted yet)
    and beyond."""

    _name = "q2c.revrec.rpo"
    _description = "Remaining Performance Obligations"
    _auto = False
    _order = "contract_id, obligation_id"

    contract_id = fields.Many2one("q2c.revenue.contract", string="Contract", readonly=True)
    obligation_id = fields.Many2one(
        "q2c.performance.obligation", string="Obligation", readonly=True
    )
    product_id = fields.Many2one("product.product", readonly=True)
    partner_id = fields.Many2one("res.partner", string="Customer", readonly=True)
    company_id = fields.Many2one("res.company", readonly=True)
    currency_id = fields.Many2one("res.currency", readonly=True)
    end_date = fields.Date(string="Obligation End", readonly=True)
    allocated_amount = fields.Monetary(string="Allocated", readonly=True, aggregator="sum")
    recognized_amount = fields.Monetary(string="Recognized", readonly=True, aggregator="sum")
    remaining_amount = fields.Monetary(string="Remaining", readonly=True, aggregator="sum")
    next_12_months = fields.Monetary(string="Next 12 Months", readonly=True, aggregator="sum")
    beyond_12_months = fields.Monetary(string="Beyond 12 Months", readonly=True, aggregator="sum")

    @property
    def _table_query(self):
        return SQL(
            """
            SELECT o.id, o.id AS obligation_id, o.contract_id, o.product_id, c.partner_id,
                   c.company_id, c.currency_id, o.end_date, o.allocated_amount,
                   COALESCE(s.recognized, 0.0) AS recognized_amount,
                   o.allocated_amount - COALESCE(s.recognized, 0.0) AS remaining_amount,
                   LEAST(COALESCE(s.next_12, 0.0),
                         o.allocated_amount - COALESCE(s.recognized, 0.0)) AS next_12_months,
                   o.allocated_amount - COALESCE(s.recognized, 0.0)
                     - LEAST(COALESCE(s.next_12, 0.0),
                             o.allocated_amount - COALESCE(s.recognized, 0.0))
                     AS beyond_12_months
              FROM q2c_performance_obligation o
              JOIN q2c_revenue_contract c ON c.id = o.contract_id
         LEFT JOIN (
                SELECT obligation_id,
                       SUM(amount) FILTER (WHERE state = 'posted') AS recognized,
                       SUM(amount) FILTER (
                           WHERE state = 'planned'
                             AND date < (date_trunc('month', CURRENT_DATE) + interval '12 months')::date
                       ) AS next_12
                  FROM q2c_revenue_schedule_line
                 WHERE line_type = 'revenue'
              GROUP BY obligation_id
              ) s ON s.obligation_id = o.id
             WHERE c.state = 'active'
               AND o.allocated_amount - COALESCE(s.recognized, 0.0) != 0
            """
        )
