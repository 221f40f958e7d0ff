from werkzeug.exceptions import Forbidden, NotFound
from werkzeug.urls import url_encode

from odoo import _, fields, http
from odoo.exceptions import AccessError, MissingError, UserError, ValidationError
from odoo.http import request

from odoo.addons.payment.controllers.portal import PaymentPortal
from odoo.addons.portal.controllers.portal import pager as portal_pager

SESSION_HISTORY = "my_q2c_subscriptions_history"


class Q2cSubscriptionPortal(PaymentPortal):
    """Customer portal of subscriptions: ``/my/subscriptions`` and its self-service actions.

    Every route checks the access to the subscription first (the portal user's record rules, or
    the subscription's access token) and answers 404 otherwise, without data; an action the
    subscription does not allow answers 403. Form posts carry Odoo's CSRF token.
    """

    # ------------------------------------------------------------------
    # Home and list
    # ------------------------------------------------------------------

    def _prepare_home_portal_values(self, counters):
        values = super()._prepare_home_portal_values(counters)
        if "q2c_subscription_count" in counters:
            Sub = request.env["q2c.subscription"]
            values["q2c_subscription_count"] = (
                Sub.search_count(self._q2c_subscriptions_domain()) if Sub.has_access("read") else 0
            )
        return values

    def _q2c_subscriptions_domain(self):
        partner = request.env.user.partner_id
        return [
            ("partner_id", "child_of", [partner.commercial_partner_id.id]),
            ("state", "!=", "draft"),
        ]

    def _q2c_searchbar_sortings(self):
        return {
            "date": {"label": _("Newest"), "order": "start_date desc, id desc"},
            "name": {"label": _("Reference"), "order": "name"},
            "next": {"label": _("Next Invoice"), "order": "next_invoice_date"},
        }

    def _q2c_searchbar_filters(self):
        return {
            "all": {"label": _("All"), "domain": []},
            "running": {"label": _("Running"), "domain": [("state", "in", ("trial", "active"))]},
            "paused": {"label": _("Paused"), "domain": [("state", "=", "paused")]},
            "closed": {"label": _("Closed"), "domain": [("state", "=", "closed")]},
        }

    @http.route(
        ["/my/subscriptions", "/my/subscriptions/page/<int:page>"],
        type="http",
        auth="user",
        website=True,
    )
    def q2c_portal_my_subscriptions(self, page=1, sortby=None, filterby=None, **kw):
        Sub = request.env["q2c.subscription"]
        if not Sub.has_access("read"):
            return request.redirect("/my")
        sortings = self._q2c_searchbar_sortings()
        filters = self._q2c_searchbar_filters()
        sortby = sortby if sortby in sortings else "date"
        filterby = filterby if filterby in filters else "all"
        domain = self._q2c_subscriptions_domain() + filters[filterby]["domain"]
        pager = portal_pager(
            url="/my/subscriptions",
            url_args={"sortby": sortby, "filterby": filterby},
            total=Sub.search_count(domain),
            page=page,
            step=self._items_per_page,
        )
        subscriptions = Sub.search(
            domain,
            order=sortings[sortby]["order"],
            limit=self._items_per_page,
            offset=pager["offset"],
        )
        request.session[SESSION_HISTORY] = subscriptions.ids[:100]
        values = self._prepare_portal_layout_values()
        values.update(
            {
                # sudo: the records were searched with the user's rights; read the computed totals.
                "subscriptions": subscriptions.sudo(),
                "page_name": "q2c_subscription",
                "pager": pager,
                "default_url": "/my/subscriptions",
                "searchbar_sortings": sortings,
                "sortby": sortby,
                "searchbar_filters": filters,
                "filterby": filterby,
            }
        )
        return request.render("q2c_billing.portal_my_subscriptions", values)

    # ------------------------------------------------------------------
    # Detail
    # ------------------------------------------------------------------

    def _q2c_check_subscription(self, subscription_id, access_token=None, action=None):
        """The subscription (sudo) if the user may see it, else 404; 403 for an action the
        subscription does not allow."""
        try:
            sub_sudo = self._document_check_access(
                "q2c.subscription", int(subscription_id), access_token=access_token
            )
        except (AccessError, MissingError, ValueError, TypeError):
            raise NotFound() from None
        if sub_sudo.state == "draft":
            raise NotFound()
        if action and action not in sub_sudo._q2c_portal_allowed_actions():
            raise Forbidden()
        return sub_sudo

    def _q2c_subscription_url(self, sub_sudo, access_token=None, **params):
        query = {key: value for key, value in params.items() if value}
        if access_token:
            query["access_token"] = access_token
        url = f"/my/subscriptions/{sub_sudo.id}"
        return f"{url}?{url_encode(query)}" if query else url

    @http.route(
        ["/my/subscriptions/<int:subscription_id>"],
        type="http",
        auth="public",
        website=True,
    )
    def q2c_portal_subscription_page(
        self, subscription_id, access_token=None, message=None, error=None, **kw
    ):
        sub_sudo = self._q2c_check_subscription(subscription_id, access_token)
        values = self._q2c_subscription_page_values(
            sub_sudo, access_token, message=message, error=error, **kw
        )
        return request.render("q2c_billing.q2c_subscription_portal_page", values)

    def _q2c_portal_invoices(self, sub_sudo):
        move_ids = {move_id for __, move_id in sub_sudo._q2c_get_invoices()}
        moves = (
            request.env["account.move"]
            .sudo()
            .browse(sorted(move_ids))
            .filtered(lambda move: move.state == "posted")
        )
        return moves.sorted(
            lambda move: (move.invoice_date or fields.Date.today(), move.id), reverse=True
        )

    def _q2c_subscription_page_values(self, sub_sudo, access_token, message=None, error=None, **kw):
        allowed = sub_sudo._q2c_portal_allowed_actions()
        lines = sub_sudo._q2c_portal_lines()
        invoices = self._q2c_portal_invoices(sub_sudo)
        values = {
            "subscription": sub_sudo,
            "page_name": "q2c_subscription",
            "lines": lines,
            "line_quantity_change": {
                line.id: sub_sudo._q2c_portal_can_change_quantity(line) for line in lines
            },
            "line_plan_options": {
                line.id: sub_sudo._q2c_portal_plan_options(line) for line in lines
            },
            "allowed_actions": allowed,
            "next_invoice": sub_sudo._q2c_portal_next_invoice(),
            "invoices": invoices,
            "usage": sub_sudo._q2c_portal_usage(),
            "close_reasons": request.env["q2c.close.reason"].sudo().search([]),
            "close_date": sub_sudo._q2c_portal_close_date(),
            "message": message,
            "error": error,
            "res_company": sub_sudo.company_id,
            "report_type": "html",
            "portal_access_token": access_token,
        }
        return self._get_page_view_values(
            sub_sudo, access_token, values, SESSION_HISTORY, False, **kw
        )

    # ------------------------------------------------------------------
    # Change quantity or plan: preview, then confirm
    # ------------------------------------------------------------------

    def _q2c_read_change(self, sub_sudo, line_id, quantity, price_plan_id):
        line_id = self._cast_as_int(line_id)
        if not line_id:
            raise UserError(_("Choose the line to change."))
        qty = None
        if quantity not in (None, ""):
            qty = self._cast_as_float(quantity)
            if qty is None:
                raise UserError(_("The quantity must be a number."))
        plan_id = self._cast_as_int(price_plan_id) if price_plan_id else None
        line = sub_sudo.line_ids.filtered(lambda rec: rec.id == line_id)
        if plan_id and line and plan_id == line.price_plan_id.id:
            plan_id = None
        if qty is not None and line and qty == line.quantity and plan_id:
            qty = None
        return sub_sudo._q2c_portal_prepare_changes(line_id, quantity=qty, price_plan_id=plan_id)

    def _q2c_check_change_allowed(self, sub_sudo):
        if not {"quantity", "plan"} & sub_sudo._q2c_portal_allowed_actions():
            raise Forbidden()

    @http.route(
        "/my/subscriptions/<int:subscription_id>/change/preview",
        type="http",
        auth="public",
        methods=["POST"],
        website=True,
    )
    def q2c_portal_change_preview(
        self,
        subscription_id,
        access_token=None,
        line_id=None,
        quantity=None,
        price_plan_id=None,
        **kw,
    ):
        sub_sudo = self._q2c_check_subscription(subscription_id, access_token)
        self._q2c_check_change_allowed(sub_sudo)
        today = fields.Date.context_today(sub_sudo)
        try:
            changes = self._q2c_read_change(sub_sudo, line_id, quantity, price_plan_id)
            preview = sub_sudo.preview_change(changes, today)
        except (UserError, ValidationError) as exc:
            return request.redirect(
                self._q2c_subscription_url(sub_sudo, access_token, error=exc.args[0])
            )
        change = changes[0]
        line = sub_sudo.line_ids.filtered(lambda rec: rec.id == change["line_id"])
        values = self._q2c_subscription_page_values(sub_sudo, access_token)
        values.update(
            {
                "preview": preview,
                "change_line": line,
                "change_quantity": change.get("quantity", line.quantity),
                "change_plan": request.env["q2c.price.plan"]
                .sudo()
                .browse(change.get("price_plan_id") or line.price_plan_id.id),
                "change_values": {
                    "line_id": line.id,
                    "quantity": change.get("quantity", ""),
                    "price_plan_id": change.get("price_plan_id", ""),
                },
                "effective_date": today,
            }
        )
        return request.render("q2c_billing.q2c_subscription_portal_change", values)

    @http.route(
        "/my/subscriptions/<int:subscription_id>/change/preview.json",
        type="json",
        auth="public",
    )
    def q2c_portal_change_preview_json(
        self,
        subscription_id,
        access_token=None,
        line_id=None,
        quantity=None,
        price_plan_id=None,
        **kw,
    ):
        """The live preview of the change form (pure)."""
        sub_sudo = self._q2c_check_subscription(subscription_id, access_token)
        self._q2c_check_change_allowed(sub_sudo)
        try:
            changes = self._q2c_read_change(sub_sudo, line_id, quantity, price_plan_id)
            return {
                "preview": sub_sudo.preview_change(changes, fields.Date.context_today(sub_sudo))
            }
        except (UserError, ValidationError) as exc:
            return {"error": exc.args[0]}

    @http.route(
        "/my/subscriptions/<int:subscription_id>/change/confirm",
        type="http",
        auth="public",
        methods=["POST"],
        website=True,
    )
    def q2c_portal_change_confirm(
        self,
        subscription_id,
        access_token=None,
        line_id=None,
        quantity=None,
        price_plan_id=None,
        **kw,
    ):
        sub_sudo = self._q2c_check_subscription(subscription_id, access_token)
        self._q2c_check_change_allowed(sub_sudo)
        try:
            changes = self._q2c_read_change(sub_sudo, line_id, quantity, price_plan_id)
            sub_sudo.apply_change(changes, fields.Date.context_today(sub_sudo))
        except (UserError, ValidationError) as exc:
            return request.redirect(
                self._q2c_subscription_url(sub_sudo, access_token, error=exc.args[0])
            )
        self._q2c_log_portal_action(
            sub_sudo, _("Subscription changed by the customer in the portal.")
        )
        return request.redirect(
            self._q2c_subscription_url(sub_sudo, access_token, message="changed")
        )

    # ------------------------------------------------------------------
    # Pause, resume, close
    # ------------------------------------------------------------------

    def _q2c_log_portal_action(self, sub_sudo, body):
        author = request.env.user.partner_id
        if request.env.user._is_public():
            author = sub_sudo.partner_id
        sub_sudo.message_post(body=body, author_id=author.id, subtype_xmlid="mail.mt_note")

    def _q2c_run_action(self, sub_sudo, access_token, method, message, log, *args):
        try:
            getattr(sub_sudo, method)(*args)
        except (UserError, ValidationError) as exc:
            return request.redirect(
                self._q2c_subscription_url(sub_sudo, access_token, error=exc.args[0])
            )
        self._q2c_log_portal_action(sub_sudo, log)
        return request.redirect(self._q2c_subscription_url(sub_sudo, access_token, message=message))

    @http.route(
        "/my/subscriptions/<int:subscription_id>/<any(pause, resume):action>",
        type="http",
        auth="public",
        methods=["POST"],
        website=True,
    )
    def q2c_portal_pause_resume(self, subscription_id, action, access_token=None, **kw):
        """Pause or resume (``action``) today."""
        method, message, log = {
            "pause": ("action_pause", "paused", _("Paused by the customer in the portal.")),
            "resume": ("action_resume", "resumed", _("Resumed by the customer in the portal.")),
        }[action]
        sub_sudo = self._q2c_check_subscription(subscription_id, access_token, action=action)
        return self._q2c_run_action(
            sub_sudo, access_token, method, message, log, fields.Date.context_today(sub_sudo)
        )

    @http.route(
        "/my/subscriptions/<int:subscription_id>/close",
        type="http",
        auth="public",
        methods=["POST"],
        website=True,
    )
    def q2c_portal_close(
        self, subscription_id, access_token=None, close_reason_id=None, close_comment=None, **kw
    ):
        sub_sudo = self._q2c_check_subscription(subscription_id, access_token, action="close")
        reason = (
            request.env["q2c.close.reason"]
            .sudo()
            .browse(self._cast_as_int(close_reason_id) or 0)
            .exists()
        )
        if not reason:
            return request.redirect(
                self._q2c_subscription_url(
                    sub_sudo, access_token, error=_("Choose a reason for closing.")
                )
            )
        close_date = sub_sudo._q2c_portal_close_date()
        log = _(
            "Closed by the customer in the portal on %(date)s (%(reason)s).",
            date=close_date,
            reason=reason.name,
        )
        if close_comment and close_comment.strip():
            log = _("%(log)s Comment: %(comment)s", log=log, comment=close_comment.strip()[:2000])
        return self._q2c_run_action(
            sub_sudo,
            access_token,
            "action_close",
            "closed",
            log,
            close_date,
            reason.id,
        )

    # ------------------------------------------------------------------
    # Payment method
    # ------------------------------------------------------------------

    def _q2c_payment_partner(self, sub_sudo):
        """The partner owning a token saved for this subscription: the logged-in customer's
        contact, or the subscription's customer."""
        user = request.env.user
        if not user._is_public() and (
            user.partner_id.commercial_partner_id == sub_sudo.partner_id.commercial_partner_id
        ):
            return user.partner_id
        return sub_sudo.partner_id

    def _q2c_available_tokens(self, sub_sudo, providers_sudo):
        partner = sub_sudo.partner_id.commercial_partner_id
        tokens = (
            request.env["payment.token"]
            .sudo()
            .search(
                [
                    ("partner_id", "child_of", partner.id),
                    ("provider_id", "in", providers_sudo.ids),
                ]
            )
        )
        return tokens

    @http.route(
        "/my/subscriptions/<int:subscription_id>/payment_method",
        type="http",
        auth="public",
        methods=["GET"],
        website=True,
    )
    def q2c_portal_payment_method(self, subscription_id, access_token=None, **kw):
        sub_sudo = self._q2c_check_subscription(
            subscription_id, access_token, action="payment_method"
        )
        partner_sudo = self._q2c_payment_partner(sub_sudo)
        availability_report = {}
        providers_sudo = (
            request.env["payment.provider"]
            .sudo()
            ._get_compatible_providers(
                sub_sudo.company_id.id,
                partner_sudo.id,
                0.0,
                currency_id=sub_sudo.currency_id.id,
                force_tokenization=True,
                is_validation=True,
                report=availability_report,
            )
            .filtered(lambda provider: not provider.capture_manually)
        )
        payment_methods_sudo = (
            request.env["payment.method"]
            .sudo()
            ._get_compatible_payment_methods(
                providers_sudo.ids,
                partner_sudo.id,
                currency_id=sub_sudo.currency_id.id,
                force_tokenization=True,
                report=availability_report,
            )
        )
        sub_access_token = sub_sudo._portal_ensure_token()
        values = self._q2c_subscription_page_values(sub_sudo, access_token)
        values.update(
            {
                "page_name": "q2c_subscription_payment_method",
                # Payment form (validation mode: the provider's own form tokenizes the new method).
                "mode": "validation",
                "allow_token_selection": True,
                "allow_token_deletion": False,
                "default_token_id": sub_sudo.payment_token_id.id,
                "show_tokenize_input_mapping": dict.fromkeys(providers_sudo.ids, False),
                "submit_button_label": _("Use this payment method"),
                "reference_prefix": f"V-{sub_sudo.name}",
                "partner_id": partner_sudo.id,
                "providers_sudo": providers_sudo,
                "payment_methods_sudo": payment_methods_sudo,
                "tokens_sudo": self._q2c_available_tokens(sub_sudo, providers_sudo),
                "availability_report": availability_report,
                "transaction_route": f"/my/subscriptions/{sub_sudo.id}/transaction",
                "assign_token_route": f"/my/subscriptions/{sub_sudo.id}/assign_token",
                "landing_route": self._q2c_subscription_url(
                    sub_sudo, access_token, message="payment_method"
                ),
                "access_token": sub_access_token,
            }
        )
        return request.render("q2c_billing.q2c_subscription_portal_payment_method", values)

    @http.route(
        "/my/subscriptions/<int:subscription_id>/transaction",
        type="json",
        auth="public",
    )
    def q2c_portal_subscription_transaction(self, subscription_id, access_token=None, **kwargs):
        """Create the validation transaction that tokenizes a new payment method for the
        subscription (the provider's own form collects the details); once confirmed, its
        token replaces the subscription's."""
        sub_sudo = self._q2c_check_subscription(
            subscription_id, access_token, action="payment_method"
        )
        self._validate_transaction_kwargs(kwargs)
        partner_sudo = self._q2c_payment_partner(sub_sudo)
        kwargs.pop("csrf_token", None)
        kwargs.update(
            {
                "partner_id": partner_sudo.id,
                "currency_id": sub_sudo.currency_id.id,
                "amount": None,
                "is_validation": True,
                "tokenization_requested": True,
                "reference_prefix": f"V-{sub_sudo.name}",
            }
        )
        if kwargs.get("flow") == "token":
            raise ValidationError(_("Choose a new payment method or assign a saved one."))
        tx_sudo = self._create_transaction(
            custom_create_values={"q2c_subscription_id": sub_sudo.id}, **kwargs
        )
        return tx_sudo._get_processing_values()

    @http.route(
        "/my/subscriptions/<int:subscription_id>/assign_token",
        type="json",
        auth="public",
    )
    def q2c_portal_assign_token(self, subscription_id, token_id=None, access_token=None, **kw):
        """Make a saved payment method of the customer the subscription's."""
        sub_sudo = self._q2c_check_subscription(
            subscription_id, access_token, action="payment_method"
        )
        token_sudo = (
            request.env["payment.token"].sudo().browse(self._cast_as_int(token_id) or 0).exists()
        )
        if not token_sudo or (
            token_sudo.partner_id.commercial_partner_id != sub_sudo.partner_id.commercial_partner_id
        ):
            raise AccessError(_("You do not have access to this payment method."))
        if not token_sudo.active or token_sudo.provider_id.state not in ("enabled", "test"):
            raise ValidationError(_("This payment method cannot be used any more."))
        sub_sudo._q2c_assign_token(token_sudo)
        return True
