from odoo import api, fields, models

from .q2c_revrec_selection import RECOGNITION_METHODS


class ProductTemplate(models.Model):
    _inherit = "product.template"

    q2c_recognition_method = fields.Selection(
        RECOGNITION_METHODS,
        string="Revenue Recognition",
        help="How the revenue of this product is recognized in revenue contracts. Empty: the "
        "product category's method; sale order lines of products without any method create no "
        "performance obligation.",
    )
    q2c_defer_revenue = fields.Boolean(
        string="Defer Revenue on Invoices",
        compute="_compute_q2c_defer_revenue",
        store=True,
        readonly=False,
        help="Customer invoices post this product to the deferred revenue account (contract "
        "liability) instead of its income account; the recognition run moves the amounts to "
        "revenue as the obligation is satisfied. On by default for products with a recognition "
        "method.",
    )
    q2c_term_months = fields.Integer(
        string="Service Term (months)",
        default=12,
        help="Service period of a ratable obligation created from a sale order line.",
    )

    @api.depends("q2c_recognition_method", "categ_id.q2c_recognition_method")
    def _compute_q2c_defer_revenue(self):
        for template in self:
            template.q2c_defer_revenue = bool(template._q2c_get_recognition_method())

    def _q2c_get_recognition_method(self):
        """The product's recognition method, else its category's (False when neither has one)."""
        self.ensure_one()
        return self.q2c_recognition_method or self.categ_id.q2c_recognition_method or False

    def _q2c_get_revrec_accounts(self):
        """Accounts of this product for revenue recognition in the current company:
        ``{"revenue", "deferred", "unbilled"}``. The deferred and unbilled accounts come from
        the product category (or its parents), else the company's defaults."""
        self.ensure_one()
        company = self.env.company
        deferred = unbilled = self.env["account.account"]
        category = self.categ_id
        while category and not (deferred and unbilled):
            deferred = deferred or category.q2c_deferred_revenue_account_id
            unbilled = unbilled or category.q2c_unbilled_revenue_account_id
            category = category.parent_id
        return {
            "revenue": self._get_product_accounts()["income"],
            "deferred": deferred or company.q2c_deferred_revenue_account_id,
            "unbilled": unbilled or company.q2c_unbilled_revenue_account_id,
        }
