from odoo import fields, models

from .q2c_revrec_selection import RECOGNITION_METHODS

ACCOUNT_DOMAIN = (
    "[('deprecated', '=', False), ('account_type', 'not in', ('asset_receivable', "
    "'liability_payable', 'asset_cash', 'liability_credit_card', 'off_balance'))]"
)


class ProductCategory(models.Model):
    _inherit = "product.category"

    q2c_recognition_method = fields.Selection(
        RECOGNITION_METHODS,
        string="Revenue Recognition",
        help="Default recognition method of the products of this category that set none.",
    )
    q2c_deferred_revenue_account_id = fields.Many2one(
        "account.account",
        company_dependent=True,
        string="Deferred Revenue Account",
        domain=ACCOUNT_DOMAIN,
        help="Contract liability: invoices of deferred products of this category post here and "
        "the recognition run moves them to revenue. Empty: the company's default.",
    )
    q2c_unbilled_revenue_account_id = fields.Many2one(
        "account.account",
        company_dependent=True,
        string="Unbilled Revenue Account",
        domain=ACCOUNT_DOMAIN,
        help="Contract asset: revenue recognized before it is billed. Empty: the company's "
        "default.",
    )
