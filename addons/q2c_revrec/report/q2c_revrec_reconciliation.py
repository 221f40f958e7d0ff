from odoo import api, fields, models
from odoo.tools import SQL

from .q2c_revrec_sql import BILLED_LINES


class Q2cRevrecReconciliation(models.Model):
    """Ledger-subledger reconciliation of the contract positions, per contract and role.

    Subledger (invoice lines and revenue schedule): contract liability = billed - recognized +
    revenue recognized through the contract asset, contract asset = revenue recognized through
    the contract asset (``unbilled_amount`` of the posted schedule, net of the nettings).
    Ledger: balance of the journal items linked to the contract on the deferred revenue
    (liability, credit positive) and unbilled revenue (asset, debit positive) accounts of the
    companies and product categories. Both in the contract currency. Any difference is an entry
    made outside the invoices and the recognition runs (or an invoice that skipped the deferred
    revenue account)."""

    _name = "q2c.revrec.reconciliation"
    _description = "Revenue Ledger-Subledger Reconciliation"
    _auto = False
    _order = "contract_id, role"

    contract_id = fields.Many2one("q2c.revenue.contract", string="Contract", readonly=True)
    partner_id = fields.Many2one("res.partner", string="Customer", readonly=True)
    company_id = fields.Many2one("res.company", readonly=True)
    currency_id = fields.Many2one("res.currency", readonly=True)
    role = fields.Selection(
        [("deferred", "Contract liability (deferred)"), ("unbilled", "Contract asset (unbilled)")],
        readonly=True,
    )
    account_id = fields.Many2one("account.account", string="Account", readonly=True)
    subledger_balance = fields.Monetary(string="Subledger", readonly=True, aggregator="sum")
    ledger_balance = fields.Monetary(string="Ledger", readonly=True, aggregator="sum")
    difference = fields.Monetary(readonly=True, aggregator="sum")

    @property
    def _table_query(self):
        return SQL(
            """
            WITH role_accounts AS (
                SELECT q2c_deferred_revenue_account_id AS account_id, 'deferred' AS role
                  FROM res_company WHERE q2c_deferred_revenue_account_id IS NOT NULL
                 UNION
                SELECT q2c_unbilled_revenue_account_id, 'unbilled'
                  FROM res_company WHERE q2c_unbilled_revenue_account_id IS NOT NULL
                 UNION
                SELECT acc.value::int, 'deferred'
                  FROM product_category pc, jsonb_each_text(pc.q2c_deferred_revenue_account_id) acc
                 WHERE acc.value ~ '^[0-9]+$'
                 UNION
                SELECT acc.value::int, 'unbilled'
                  FROM product_category pc, jsonb_each_text(pc.q2c_unbilled_revenue_account_id) acc
                 WHERE acc.value ~ '^[0-9]+$'
            ), billed AS (
                SELECT b.contract_id, SUM(b.billed) AS billed
                  FROM (%(billed_lines)s) b
              GROUP BY b.contract_id
            ), schedule AS (
                SELECT contract_id,
                       SUM(amount) FILTER (WHERE line_type = 'revenue') AS recognized,
                       SUM(unbilled_amount) AS unbilled
                  FROM q2c_revenue_schedule_line
                 WHERE state = 'posted'
              GROUP BY contract_id
            ), ledger AS (
                SELECT aml.q2c_revenue_contract_id AS contract_id, ra.role,
                       MIN(aml.account_id) AS account_id,
                       SUM(CASE WHEN aml.currency_id = c.currency_id THEN aml.amount_currency
                                ELSE aml.balance END) AS balance
                  FROM account_move_line aml
                  JOIN role_accounts ra ON ra.account_id = aml.account_id
                  JOIN q2c_revenue_contract c ON c.id = aml.q2c_revenue_contract_id
                 WHERE aml.parent_state = 'posted'
              GROUP BY aml.q2c_revenue_contract_id, ra.role
            ), keys AS (
                SELECT c.id AS contract_id, r.role
                  FROM q2c_revenue_contract c
            CROSS JOIN (VALUES ('deferred'), ('unbilled')) AS r(role)
                 WHERE c.state NOT IN ('draft', 'combined')
                 UNION
                SELECT contract_id, role FROM ledger
            ), rows AS (
                SELECT k.contract_id, k.role,
                       CASE WHEN k.role = 'deferred'
                            THEN COALESCE(b.billed, 0.0) - COALESCE(s.recognized, 0.0)
                                 + COALESCE(s.unbilled, 0.0)
                            ELSE COALESCE(s.unbilled, 0.0) END AS subledger_balance,
                       CASE WHEN k.role = 'deferred' THEN -COALESCE(g.balance, 0.0)
                            ELSE COALESCE(g.balance, 0.0) END AS ledger_balance,
                       g.account_id
                  FROM keys k
             LEFT JOIN billed b ON b.contract_id = k.contract_id
             LEFT JOIN schedule s ON s.contract_id = k.contract_id
             LEFT JOIN ledger g ON g.contract_id = k.contract_id AND g.role = k.role
            )
            SELECT r.contract_id * 2 + (CASE WHEN r.role = 'unbilled' THEN 1 ELSE 0 END) AS id,
                   r.contract_id, c.partner_id, c.company_id, c.currency_id, r.role,
                   COALESCE(r.account_id, CASE WHEN r.role = 'deferred'
                       THEN co.q2c_deferred_revenue_account_id
                       ELSE co.q2c_unbilled_revenue_account_id END) AS account_id,
                   r.subledger_balance, r.ledger_balance,
                   r.subledger_balance - r.ledger_balance AS difference
              FROM rows r
              JOIN q2c_revenue_contract c ON c.id = r.contract_id
              JOIN res_company co ON co.id = c.company_id
            """,
            billed_lines=BILLED_LINES,
        )

    @api.model
    def _q2c_reconciliation_differences(self):
        """Rows whose subledger and ledger balances differ (to the currency's rounding)."""
        self.env["account.move.line"].flush_model()
        self.env["q2c.revenue.schedule.line"].flush_model()
        self.env["q2c.revenue.contract"].flush_model()
        self.invalidate_model()
        rows = self.search([])
        return rows.filtered(lambda row: not row.currency_id.is_zero(row.difference))
