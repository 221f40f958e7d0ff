from markupsafe import Markup

from odoo import _, api, fields, models
from odoo.exceptions import UserError
from odoo.tools import SQL

COMBINABLE_STATES = ("draft", "active")


class Q2cRevenueContract(models.Model):
    """Combination of contracts (ASC 606-10-25-9, IFRS 15.17): contracts with one customer
    entered into at or near the same time are accounted for as a single contract when they are
    negotiated as a package, when the consideration of one depends on the other, or when their
    goods form a single obligation. The company's window proposes the combinations; combining is
    a decision (button or ``combine()``)."""

    _inherit = "q2c.revenue.contract"

    combined_into_id = fields.Many2one(
        "q2c.revenue.contract",
        string="Combined Into",
        readonly=True,
        copy=False,
        index="btree_not_null",
        help="The contract this one was combined into: its obligations, schedule and invoice "
        "lines now belong to it.",
    )
    combined_from_ids = fields.One2many(
        "q2c.revenue.contract", "combined_into_id", string="Combined Contracts", readonly=True
    )
    combine_candidate_ids = fields.Many2many(
        "q2c.revenue.contract",
        compute="_compute_combine_candidate_ids",
        search="_search_combine_candidate_ids",
        string="Combination Proposed With",
        help="Draft or active contracts of the same customer (commercial partner), company and "
        "currency dated within the company's combination window of this one.",
    )

    @api.depends("partner_id", "date", "state", "currency_id", "company_id")
    def _compute_combine_candidate_ids(self):
        pairs = self._q2c_combine_pairs(self.ids) if self.ids else {}
        for contract in self:
            contract.combine_candidate_ids = self.browse(sorted(pairs.get(contract.id, ())))

    def _search_combine_candidate_ids(self, operator, value):
        if operator not in ("!=", "=") or value is not False:
            raise UserError(_("Combination Proposed With: only set / not set can be searched."))
        ids = list(self._q2c_combine_pairs())
        return [("id", "in" if operator == "!=" else "not in", ids)]

    @api.model
    def _q2c_combine_pairs(self, contract_ids=None):
        """``{contract id: {candidate ids}}`` under each company's window (days, 0 = off)."""
        self.flush_model(["partner_id", "date", "state", "currency_id", "company_id"])
        self.env["res.partner"].flush_model(["commercial_partner_id"])
        self.env["res.company"].flush_model(["q2c_revrec_combine_days"])
        rows = self.env.execute_query(
            SQL(
                """
                SELECT c.id, o.id
                  FROM q2c_revenue_contract c
                  JOIN res_company co ON co.id = c.company_id
                  JOIN res_partner p ON p.id = c.partner_id
                  JOIN q2c_revenue_contract o
                    ON o.company_id = c.company_id AND o.currency_id = c.currency_id
                   AND o.id != c.id AND o.state IN %(states)s
                   AND ABS(o.date - c.date) <= co.q2c_revrec_combine_days
                  JOIN res_partner op ON op.id = o.partner_id
                       AND op.commercial_partner_id = p.commercial_partner_id
                 WHERE c.state IN %(states)s AND co.q2c_revrec_combine_days > 0
                   %(filter)s
                """,
                states=COMBINABLE_STATES,
                filter=SQL("AND c.id = ANY(%s)", list(contract_ids)) if contract_ids else SQL(),
            )
        )
        pairs = {}
        for contract_id, other_id in rows:
            pairs.setdefault(contract_id, set()).add(other_id)
        return pairs

    # ------------------------------------------------------------------
    # Actions
    # ------------------------------------------------------------------

    def combine(self, date=None):
        """Combine these contracts (at least two) into one: the earliest (then lowest id) keeps
        them all. See ``_q2c_combine``. Returns the combined contract."""
        self.check_access("write")
        return self._q2c_combine(date)

    def action_combine(self):
        """Button and list action: combine the selected contracts, or one contract with the
        contracts the company's window proposes."""
        contracts = self
        if len(self) == 1:
            contracts |= self.combine_candidate_ids
        contract = contracts.combine()
        return {
            "type": "ir.actions.act_window",
            "res_model": self._name,
            "res_id": contract.id,
            "views": [(False, "form")],
        }

    def action_view_combined(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "name": _("Combined Contracts"),
            "res_model": self._name,
            "view_mode": "list,form",
            "domain": [("combined_into_id", "=", self.id)],
            "context": {"create": False},
        }

    # ------------------------------------------------------------------
    # Combination
    # ------------------------------------------------------------------

    def _q2c_check_combinable(self):
        if len(self) < 2:
            raise UserError(_("Select at least two revenue contracts to combine."))
        for contract in self:
            if contract.state not in COMBINABLE_STATES:
                raise UserError(
                    _(
                        "Contract %(contract)s is %(state)s: only draft or active contracts are "
                        "combined.",
                        contract=contract.name,
                        state=contract._q2c_state_label(),
                    )
                )
        for field_name, label in (
            ("company_id", _("company")),
            ("currency_id", _("currency")),
        ):
            if len(self.mapped(field_name)) > 1:
                raise UserError(
                    _(
                        "Contracts %(contracts)s: contracts of different %(what)s cannot be "
                        "combined.",
                        contracts=", ".join(self.mapped("name")),
                        what=label,
                    )
                )
        if len(self.partner_id.commercial_partner_id) > 1:
            raise UserError(
                _(
                    "Contracts %(contracts)s: only contracts with one customer are combined "
                    "(customers %(customers)s).",
                    contracts=", ".join(self.mapped("name")),
                    customers=", ".join(self.partner_id.commercial_partner_id.mapped("name")),
                )
            )

    def _q2c_combine(self, date=None):
        """Combine these contracts into the earliest one (the target).

        The target takes every obligation (with its schedule), the invoice lines and the
        contract asset / liability journal items of the others, the sum of their transaction
        prices, discounts and variable consideration; the others become ``combined``. The
        transaction price is allocated again over all the obligations by relative SSP. Draft
        targets (all contracts draft) stay draft. Otherwise the combined contract is active and
        every obligation is planned again on its new allocation as if it had been one contract
        from inception: what is posted stays posted, the difference for the periods already
        posted is booked on ``date`` (default today) as a cumulative catch-up. Usage obligations
        keep their schedule (their revenue follows the billed usage).
        """
        self._q2c_check_combinable()
        contracts = self.sorted(lambda c: (c.date, c.id))
        target, sources = contracts[0], contracts[1:]
        day = self._q2c_parse_date(date, "date") if date else fields.Date.context_today(self)
        was_active = "active" in contracts.mapped("state")
        before = {o: o.allocated_amount for o in contracts.obligation_ids}
        currency = target.currency_id
        totals = {
            name: currency.round(sum(contracts.mapped(name)))
            for name in ("transaction_price", "discount_amount", "variable_consideration")
        }
        # sudo: invoice and recognition journal items follow the contracts they bill; the write
        # access to the contracts is checked by combine().
        self.env["account.move.line"].sudo().search(
            [("q2c_revenue_contract_id", "in", sources.ids)]
        ).write({"q2c_revenue_contract_id": target.id})
        # The SSP, list price and start date (computed from the contract, typed or looked up
        # at the contract date) are kept as they are.
        for obligation in sources.obligation_ids:
            obligation.write(
                {
                    "contract_id": target.id,
                    "ssp": obligation.ssp,
                    "price_unit": obligation.price_unit,
                    "start_date": obligation.start_date,
                }
            )
        sources.write({"state": "combined", "combined_into_id": target.id})
        target.write(totals)
        if not target.obligation_ids:
            raise UserError(
                _(
                    "Contracts %(contracts)s have no performance obligation to combine.",
                    contracts=", ".join(contracts.mapped("name")),
                )
            )
        allocation = target._q2c_allocation(target.obligation_ids.sorted("sequence"))
        if was_active:
            target.state = "active"
            target._check_obligations_ready()
        for obligation, amount in allocation.items():
            obligation.allocated_amount = amount
            if was_active and obligation.recognition_method != "usage":
                obligation._q2c_replan(obligation._prepare_schedule_line_vals_list(), day)
        target._q2c_log_combination(sources, before, day if was_active else None)
        return target

    def _q2c_log_combination(self, sources, before, day):
        self.ensure_one()
        currency = self.currency_id
        rows = Markup("").join(
            Markup("<li>%s</li>")
            % _(
                "%(obligation)s: %(before)s -> %(after)s",
                obligation=obligation.name,
                before=currency.round(before.get(obligation, 0.0)),
                after=obligation.allocated_amount,
            )
            for obligation in self.obligation_ids.sorted("sequence")
        )
        if day:
            intro = _(
                "Contracts %(contracts)s combined into this contract (ASC 606-10-25-9 / IFRS "
                "15.17): transaction price %(price)s allocated again by relative SSP; the "
                "difference for periods already posted is a cumulative catch-up on %(date)s.",
                contracts=", ".join(sources.mapped("name")),
                price=self.transaction_price,
                date=day,
            )
        else:
            intro = _(
                "Contracts %(contracts)s combined into this contract (ASC 606-10-25-9 / IFRS "
                "15.17): transaction price %(price)s allocated again by relative SSP.",
                contracts=", ".join(sources.mapped("name")),
                price=self.transaction_price,
            )
        self.message_post(
            body=Markup("<p>%s</p><ul>%s</ul>") % (intro, rows),
            message_type="comment",
            subtype_xmlid="mail.mt_note",
        )
        for source in sources:
            source.message_post(
                body=Markup("<p>%s</p>")
                % _("Combined into contract %(contract)s.", contract=self.name),
                message_type="comment",
                subtype_xmlid="mail.mt_note",
            )

    def _q2c_final_contract(self):
        """The contract that holds this one: itself, or the contract it was combined into."""
        self.ensure_one()
        contract, seen = self, set()
        while contract.combined_into_id and contract.id not in seen:
            seen.add(contract.id)
            contract = contract.combined_into_id
        return contract
