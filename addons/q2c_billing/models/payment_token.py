from odoo import _, models


class PaymentToken(models.Model):
    _inherit = "payment.token"

    def _handle_archiving(self):
        """An archived token cannot pay any more: the subscriptions using it lose it (logged),
        their invoices are then paid manually or after the customer gives a new one."""
        res = super()._handle_archiving()
        subscriptions = (
            self.env["q2c.subscription"].sudo().search([("payment_token_id", "in", self.ids)])
        )
        for subscription in subscriptions:
            token = subscription.payment_token_id
            subscription.payment_token_id = False
            subscription.message_post(
                body=_(
                    "The payment method %(token)s was removed; invoices are no longer "
                    "charged automatically.",
                    token=token.display_name,
                ),
                subtype_xmlid="mail.mt_note",
            )
        return res

    def get_linked_records_info(self):
        """Show the subscriptions charged to this token before the customer deletes it."""
        res = super().get_linked_records_info()
        subscriptions = (
            self.env["q2c.subscription"].sudo().search([("payment_token_id", "=", self.id)])
        )
        for subscription in subscriptions:
            res.append(
                {
                    "description": subscription._description,
                    "id": subscription.id,
                    "name": subscription.name,
                    "url": subscription.access_url,
                }
            )
        return res
