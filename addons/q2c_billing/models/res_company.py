from odoo import fields, models


class ResCompany(models.Model):
    _inherit = "res.company"

    q2c_invoice_grouping = fields.Selection(
        selection=[
            ("customer", "One invoice per customer and currency"),
            ("subscription", "One invoice per subscription"),
        ],
        string="Subscription Invoices",
        default="customer",
        required=True,
    )
    q2c_invoice_post = fields.Boolean(
        string="Post Subscription Invoices",
        default=True,
        help="Billing runs post the invoices they create; otherwise they are left in draft.",
    )
    q2c_invoice_send = fields.Boolean(
        string="Email Subscription Invoices",
        help="Posted invoices of billing runs are queued for sending by email.",
    )
    q2c_upgrade_billing = fields.Selection(
        selection=[
            ("immediate", "At once"),
            ("next_invoice", "On the next invoice"),
        ],
        string="Bill Upgrades",
        default="immediate",
        required=True,
        help="When the proration of an amendment is a charge. Credits (downgrades) always go on "
        "the next invoice.",
    )
    q2c_journal_id = fields.Many2one(
        "account.journal",
        string="Subscription Journal",
        domain="[('type', '=', 'sale'), ('company_id', '=', id)]",
        help="Sales journal of the subscription invoices (default: the first sales journal).",
    )
