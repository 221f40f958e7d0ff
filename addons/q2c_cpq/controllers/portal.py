from odoo import http
from odoo.exceptions import AccessError, MissingError
from odoo.http import request

from odoo.addons.sale.controllers.portal import CustomerPortal


class Q2cCustomerPortal(CustomerPortal):
    @http.route()
    def portal_quote_accept(self, order_id, access_token=None, name=None, signature=None):
        """Refuse the signature of a quote that waits for an approval or has configuration
        errors, before anything is written (the core route stores the signature first)."""
        access_token = access_token or request.httprequest.args.get("access_token")
        try:
            order_sudo = self._document_check_access(
                "sale.order", order_id, access_token=access_token
            )
        except (AccessError, MissingError):
            return super().portal_quote_accept(
                order_id, access_token=access_token, name=name, signature=signature
            )
        message = order_sudo._q2c_blocking_message("sign")
        if message:
            return {"error": message}
        return super().portal_quote_accept(
            order_id, access_token=access_token, name=name, signature=signature
        )
