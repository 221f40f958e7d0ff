from odoo import fields, models


class ResCompany(models.Model):
    _inherit = "res.company"

    q2c_autopay = fields.Boolean(
        string="Charge Saved Payment Methods",
        default=True,
        help="Posted subscription invoices are charged automatically to the subscription's "
        "saved payment method.",
    )
    q2c_portal_change_quantity = fields.Boolean(
        string="Portal: Change Quantities",
        default=True,
        help="Customers change the quantity of their recurring lines in the portal, after a "
        "prorated preview.",
    )
    q2c_portal_change_plan = fields.Boolean(
        string="Portal: Change Plans",
        default=True,
        help="Customers switch a recurring line to another plan of the same product (or of "
        "another variant of it) in the portal, after a prorated preview.",
    )
    q2c_portal_pause = fields.Boolean(
        string="Portal: Pause and Resume",
        help="Customers pause and resume their subscriptions in the portal.",
    )
    q2c_portal_close = fields.Boolean(
        string="Portal: Close at Period End",
        default=True,
        help="Customers close their subscriptions at the end of the current period, with a "
        "reason, in the portal.",
    )
    q2c_portal_payment_method = fields.Boolean(
        string="Portal: Replace Payment Method",
        default=True,
        help="Customers replace the saved payment method of their subscriptions in the portal "
        "(tokenized by the payment provider).",
    )
