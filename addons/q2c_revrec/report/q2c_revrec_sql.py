from odoo.tools import SQL

# Posted customer invoice lines billing a revenue contract (credit notes negative), in the
# contract currency when the invoice is in it, else converted at the line's own rate.
BILLED_LINES = SQL(
    """
    SELECT aml.q2c_revenue_contract_id AS contract_id,
           aml.date AS date,
           CASE WHEN aml.currency_id = c.currency_id THEN -aml.amount_currency
                ELSE -aml.balance END AS billed
      FROM account_move_line aml
      JOIN account_move move ON move.id = aml.move_id
      JOIN q2c_revenue_contract c ON c.id = aml.q2c_revenue_contract_id
     WHERE aml.parent_state = 'posted'
       AND aml.display_type = 'product'
       AND aml.q2c_revrec_role IS NULL
       AND move.move_type IN ('out_invoice', 'out_refund', 'out_receipt')
    """
)
