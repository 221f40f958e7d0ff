import logging

from markupsafe import Markup

from odoo import _, api, fields, models
from odoo.exceptions import UserError

_logger = logging.getLogger(__name__)

# Worst first: the status a subscription shows when several invoices have issues.
PAYMENT_ISSUE_ORDER = ("failed", "unknown", "pending")


class Q2cSubscription(models.Model):
    """Automatic payment status and customer self-service of a subscription."""

    _inherit = "q2c.subscription"

    q2c_payment_status = fields.Selection(
        selection=[
            ("ok", "Up to Date"),
            ("pending", "Payment Pending"),
            ("unknown", "Payment Unknown"),
            ("failed", "Payment Failed"),
        ],
        string="Payment Status",
        compute="_compute_q2c_payment_status",
        search="_search_q2c_payment_status",
        help="The worst automatic payment state of the open invoices of this subscription: "
        "failed (refused or cancelled), unknown (no answer from the provider), pending.",
    )
    q2c_payment_issue_move_id = fields.Many2one(
        "account.move",
        string="Invoice with Payment Issue",
        compute="_compute_q2c_payment_status",
    )
    q2c_payment_issue_message = fields.Char(
        string="Payment Issue",
        compute="_compute_q2c_payment_status",
    )
    q2c_portal_self_service = fields.Boolean(
        string="Customer Self-Service",
        default=True,
        tracking=True,
        help="The customer may change this subscription in the portal, as far as the company "
        "allows (Settings). Off: the portal shows it read-only.",
    )

    # ------------------------------------------------------------------
    # Computes
    # ------------------------------------------------------------------

    def _compute_q2c_payment_status(self):
        issues = self._q2c_payment_issue_moves()
        for sub in self:
            moves = issues.get(sub.id)
            if not moves:
                sub.q2c_payment_status = "ok"
                sub.q2c_payment_issue_move_id = False
                sub.q2c_payment_issue_message = False
                continue
            worst = min(
                moves, key=lambda move: (PAYMENT_ISSUE_ORDER.index(move.q2c_payment_state), move.id)
            )
            sub.q2c_payment_status = worst.q2c_payment_state
            sub.q2c_payment_issue_move_id = worst
            sub.q2c_payment_issue_message = _(
                "%(invoice)s: %(state)s%(error)s",
                invoice=worst.name,
                state=worst._q2c_payment_state_label(),
                error=f" ({worst.q2c_payment_error})" if worst.q2c_payment_error else "",
            )

    def _search_q2c_payment_status(self, operator, value):
        if operator not in ("=", "!=", "in", "not in"):
            raise UserError(_("Unsupported search on the payment status: %(op)s", op=operator))
        values = {value} if isinstance(value, str) else set(value or ())
        positive = operator in ("=", "in")
        issue_values = values & set(PAYMENT_ISSUE_ORDER)
        moves = (
            self.env["account.move"]
            .sudo()
            .search(self._q2c_payment_issue_domain(list(issue_values or PAYMENT_ISSUE_ORDER)))
        )
        sub_ids = set(moves.invoice_line_ids.q2c_subscription_id.ids)
        if "ok" in values:
            # "ok": no issue at all; with issue values too, those subscriptions as well.
            all_issues = (
                self.env["account.move"]
                .sudo()
                .search(self._q2c_payment_issue_domain(list(PAYMENT_ISSUE_ORDER)))
                .invoice_line_ids.q2c_subscription_id.ids
            )
            ok_domain = [("id", "not in", all_issues)]
            if issue_values:
                ok_domain = ["|", ("id", "in", list(sub_ids))] + ok_domain
            return ok_domain if positive else ["!"] + ok_domain
        return [("id", "in" if positive else "not in", list(sub_ids))]

    @api.model
    def _q2c_payment_issue_domain(self, states):
        return [
            ("move_type", "=", "out_invoice"),
            ("state", "=", "posted"),
            ("q2c_payment_state", "in", states),
            ("payment_state", "not in", ("paid", "in_payment", "reversed")),
        ]

    def _q2c_payment_issue_moves(self):
        """``{subscription_id: invoices}`` of the open invoices with a payment issue."""
        if not self.ids:
            return {}
        move_ids = {move_id for __, move_id in self._q2c_get_invoices()}
        if not move_ids:
            return {}
        moves = (
            self.env["account.move"]
            .sudo()
            .search(
                [("id", "in", list(move_ids))]
                + self._q2c_payment_issue_domain(list(PAYMENT_ISSUE_ORDER))
            )
        )
        result = {}
        for move in moves:
            for sub in move.invoice_line_ids.q2c_subscription_id:
                result.setdefault(sub.id, []).append(move)
        return result

    # ------------------------------------------------------------------
    # Automatic payment
    # ------------------------------------------------------------------

    def _q2c_notify_payment_issue(self, invoice, tx, body):
        """Post the payment issue of ``invoice`` in the subscription's chatter."""
        self.ensure_one()
        self.message_post(
            body=Markup("%s<br/>%s")
            % (_("Invoice %(invoice)s:", invoice=invoice._get_html_link()), body),
            subtype_xmlid="mail.mt_note",
        )

    def _q2c_assign_token(self, token):
        """Make ``token`` the saved payment method of these subscriptions (logged)."""
        for sub in self:
            old = sub.payment_token_id
            if old == token:
                continue
            if token.partner_id.commercial_partner_id != sub.partner_id.commercial_partner_id:
                raise UserError(
                    _(
                        "%(sub)s: the payment method %(token)s belongs to another customer.",
                        sub=sub.name,
                        token=token.display_name,
                    )
                )
            sub.sudo().payment_token_id = token
            sub.message_post(
                body=_(
                    "Payment method replaced: %(old)s -> %(new)s.",
                    old=old.display_name or _("none"),
                    new=token.display_name,
                ),
                subtype_xmlid="mail.mt_note",
            )

    # ------------------------------------------------------------------
    # Customer portal
    # ------------------------------------------------------------------

    def _q2c_portal_allowed_actions(self):
        """The self-service actions the customer may take now: a subset of ``quantity``,
        ``plan``, ``pause``, ``resume``, ``close``, ``payment_method`` (company settings, the
        subscription's *Customer Self-Service* switch and its state)."""
        self.ensure_one()
        company = self.company_id
        if not self.q2c_portal_self_service or self.state in ("draft", "closed"):
            return set()
        allowed = set()
        if company.q2c_portal_payment_method:
            allowed.add("payment_method")
        if company.q2c_portal_close:
            allowed.add("close")
        if self.state in ("active", "trial"):
            if company.q2c_portal_change_quantity:
                allowed.add("quantity")
            if company.q2c_portal_change_plan:
                allowed.add("plan")
        if company.q2c_portal_pause:
            if self.state == "active":
                allowed.add("pause")
            elif self.state == "paused":
                allowed.add("resume")
        return allowed

    def _q2c_portal_lines(self):
        """The lines shown in the portal: those not ended."""
        self.ensure_one()
        today = fields.Date.context_today(self)
        return self.line_ids.filtered(
            lambda line: not line.end_date or line.end_date >= today
        ).sorted(lambda line: (line.sequence, line.id))

    def _q2c_portal_can_change_quantity(self, line):
        self.ensure_one()
        return (
            "quantity" in self._q2c_portal_allowed_actions()
            and line.charge_type == "recurring"
            and line.price_plan_id.charge_model != "flat"
        )

    def _q2c_portal_plan_options(self, line):
        """The plans a recurring line may switch to in the portal: the other recurring plans
        of its product or of the other variants of its product, in the subscription's
        currency, valid today, generic or for this customer or price book."""
        self.ensure_one()
        if "plan" not in self._q2c_portal_allowed_actions() or line.charge_type != "recurring":
            return self.env["q2c.price.plan"]
        today = fields.Date.context_today(self)
        plans = (
            self.env["q2c.price.plan"]
            .sudo()
            .search(
                [
                    ("product_id.product_tmpl_id", "=", line.product_id.product_tmpl_id.id),
                    ("product_id.active", "=", True),
                    ("charge_type", "=", "recurring"),
                    ("currency_id", "=", self.currency_id.id),
                    ("company_id", "in", [False, self.company_id.id]),
                    ("partner_id", "in", [False, self.partner_id.commercial_partner_id.id]),
                    ("pricelist_id", "in", [False, self.pricelist_id.id]),
                    "|",
                    ("date_start", "=", False),
                    ("date_start", "<=", today),
                    "|",
                    ("date_end", "=", False),
                    ("date_end", ">=", today),
                ]
            )
        )
        other_products = (self._q2c_portal_lines() - line).product_id
        return plans.filtered(
            lambda plan: plan != line.price_plan_id and plan.product_id not in other_products
        )

    def _q2c_portal_prepare_changes(self, line_id, quantity=None, price_plan_id=None):
        """The ``changes`` of ``preview_change`` / ``apply_change`` for a portal request on
        one line, checked against what the customer may change. Raises a UserError naming
        the field at fault."""
        self.ensure_one()
        line = self.line_ids.filtered(lambda rec: rec.id == line_id)
        if not line or line not in self._q2c_portal_lines():
            raise UserError(_("This line is not a current line of %(sub)s.", sub=self.name))
        change = {"line_id": line.id}
        if price_plan_id:
            plan = self._q2c_portal_plan_options(line).filtered(lambda p: p.id == price_plan_id)
            if not plan:
                raise UserError(_("The plan you chose is not available for this line."))
            change.update(product_id=plan.product_id.id, price_plan_id=plan.id)
        if quantity is not None:
            if not self._q2c_portal_can_change_quantity(line) and not price_plan_id:
                raise UserError(_("The quantity of this line cannot be changed here."))
            if quantity <= 0:
                raise UserError(
                    _("The quantity must be above 0; close the subscription to stop it.")
                )
            if quantity != int(quantity):
                raise UserError(_("The quantity must be a whole number."))
            change["quantity"] = quantity
        if len(change) == 1:
            raise UserError(_("Give a new quantity or a new plan."))
        return [change]

    def _q2c_portal_close_date(self):
        """Closing from the portal takes effect at the end of the current period."""
        self.ensure_one()
        today = fields.Date.context_today(self)
        if self.state == "trial" and self.trial_end_date:
            return max(self.trial_end_date, today)
        return max(self.current_period_end or today, today)

    def _q2c_portal_next_invoice(self):
        """The preview of the next invoice (``preview_invoice``), or None."""
        self.ensure_one()
        if self.state not in ("active", "trial") or not self.next_invoice_date:
            return None
        try:
            return self.preview_invoice(self.next_invoice_date)
        except UserError:
            return None

    def _q2c_portal_usage(self):
        """Hook: usage of the current period shown in the portal, ``[{"metric", "uom",
        "quantity"}]`` (usage metering fills it)."""
        self.ensure_one()
        return []

    # ------------------------------------------------------------------
    # Demo data
    # ------------------------------------------------------------------

    @api.model
    def _q2c_demo_setup_autopay(self):
        """Demo data: the Demo payment provider (core module ``payment_demo``, when installed)
        in test mode with a bank journal, and demo cards on two demo subscriptions: Acme's
        payments succeed, Bergmann's fail (to show a failed payment and dunning)."""
        Token = self.env["payment.token"]
        provider = self.env.ref("payment.payment_provider_demo", raise_if_not_found=False)
        if "demo_simulated_state" not in Token._fields or not provider or provider.code != "demo":
            _logger.info("q2c demo: payment_demo is not installed, no demo payment methods")
            return
        journal = self.env["account.journal"].search(
            [("type", "=", "bank"), ("company_id", "=", provider.company_id.id)], limit=1
        )
        provider.write({"state": "test", "is_published": True, "journal_id": journal.id})
        method = self.env.ref("payment_demo.payment_method_demo")
        for xmlid, state, details in (
            ("q2c_billing.demo_subscription_acme", "done", "4242"),
            ("q2c_billing.demo_subscription_bergmann", "error", "0002"),
        ):
            sub = self.env.ref(xmlid, raise_if_not_found=False)
            if not sub or sub.payment_token_id:
                continue
            sub.payment_token_id = Token.create(
                {
                    "provider_id": provider.id,
                    "payment_method_id": method.id,
                    "payment_details": details,
                    "partner_id": sub.partner_id.commercial_partner_id.id,
                    "provider_ref": f"q2c-demo-{details}",
                    "demo_simulated_state": state,
                }
            )
