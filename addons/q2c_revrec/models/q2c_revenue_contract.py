from collections import defaultdict
from datetime import date as date_cls

from odoo import _, api, fields, models
from odoo.exceptions import UserError, ValidationError
from odoo.tools import SQL

from odoo.addons.q2c_billing.tools import period as periods

from .. import tools


class Q2cRevenueContract(models.Model):
    _name = "q2c.revenue.contract"
    _description = "Revenue Contract"
    _inherit = ["mail.thread", "mail.activity.mixin"]
    _order = "date desc, id desc"
    _check_company_auto = True

    name = fields.Char(
        string="Reference",
        required=True,
        copy=False,
        readonly=True,
        default=lambda self: _("New"),
        index="trigram",
    )
    partner_id = fields.Many2one(
        "res.partner", string="Customer", required=True, tracking=True, index=True
    )
    company_id = fields.Many2one(
        "res.company", required=True, index=True, default=lambda self: self.env.company
    )
    currency_id = fields.Many2one(
        "res.currency",
        required=True,
        tracking=True,
        default=lambda self: self.env.company.currency_id,
    )
    date = fields.Date(
        string="Contract Date",
        required=True,
        default=fields.Date.context_today,
        tracking=True,
        help="Inception of the contract: the date of the standalone selling prices.",
    )
    state = fields.Selection(
        [("draft", "Draft"), ("active", "Active"), ("closed", "Closed"), ("combined", "Combined")],
        default="draft",
        required=True,
        copy=False,
        tracking=True,
        index=True,
    )
    sale_order_id = fields.Many2one(
        "sale.order", string="Sale Order", copy=False, index="btree_not_null", check_company=True
    )
    subscription_id = fields.Many2one(
        "q2c.subscription",
        string="Subscription",
        copy=False,
        index="btree_not_null",
        ondelete="restrict",
    )
    list_amount = fields.Monetary(
        compute="_compute_amounts",
        string="List Amount",
        help="Quantity times list price of all obligations.",
    )
    ssp_total = fields.Monetary(compute="_compute_amounts", string="Total SSP")
    discount_amount = fields.Monetary(
        string="Discount",
        tracking=True,
        help="Discount granted on the list amount. Without observable evidence tying it to some "
        "obligations, allocation spreads it over all of them.",
    )
    variable_consideration = fields.Monetary(
        string="Variable Consideration (estimate)",
        tracking=True,
        help="Estimate of variable consideration (usage, bonuses, penalties, price concessions), "
        "constrained to the amount not expected to reverse. Part of the transaction price.",
    )
    transaction_price = fields.Monetary(
        tracking=True,
        help="Consideration allocated to the obligations: list amount - discount + variable "
        "consideration (proposed on the form; can be typed).",
    )
    obligation_ids = fields.One2many(
        "q2c.performance.obligation", "contract_id", string="Obligations", copy=True
    )
    schedule_line_ids = fields.One2many(
        "q2c.revenue.schedule.line", "contract_id", string="Revenue Schedule"
    )
    allocated_amount = fields.Monetary(compute="_compute_amounts", string="Allocated")
    recognized_amount = fields.Monetary(compute="_compute_recognition_figures", string="Recognized")
    planned_amount = fields.Monetary(compute="_compute_recognition_figures", string="To Recognize")
    billed_amount = fields.Monetary(compute="_compute_recognition_figures", string="Billed")
    move_count = fields.Integer(compute="_compute_recognition_figures", string="Entries")
    note = fields.Html()

    _sql_constraints = [
        (
            "name_company_uniq",
            "unique(name, company_id)",
            "A revenue contract reference must be unique per company.",
        ),
    ]

    # ------------------------------------------------------------------
    # Computes
    # ------------------------------------------------------------------

    @api.depends(
        "obligation_ids.list_amount", "obligation_ids.ssp", "obligation_ids.allocated_amount"
    )
    def _compute_amounts(self):
        for contract in self:
            contract.list_amount = sum(contract.obligation_ids.mapped("list_amount"))
            contract.ssp_total = sum(contract.obligation_ids.mapped("ssp"))
            contract.allocated_amount = sum(contract.obligation_ids.mapped("allocated_amount"))

    @api.depends("schedule_line_ids.amount", "schedule_line_ids.state")
    def _compute_recognition_figures(self):
        Line = self.env["q2c.revenue.schedule.line"]
        posted, planned, moves = {}, {}, defaultdict(int)
        if self.ids:
            for contract, state, amount in Line._read_group(
                [("contract_id", "in", self.ids)], ["contract_id", "state"], ["amount:sum"]
            ):
                (posted if state == "posted" else planned)[contract.id] = amount
            for contract, count in Line._read_group(
                [("contract_id", "in", self.ids), ("move_id", "!=", False)],
                ["contract_id"],
                ["move_id:count_distinct"],
            ):
                moves[contract.id] = count
        billed = self._q2c_billed_by_contract() if self.ids else {}
        for contract in self:
            contract.recognized_amount = posted.get(contract.id, 0.0)
            contract.planned_amount = planned.get(contract.id, 0.0)
            contract.billed_amount = contract.currency_id.round(billed.get(contract.id, 0.0))
            contract.move_count = moves.get(contract.id, 0)

    # ------------------------------------------------------------------
    # Constraints
    # ------------------------------------------------------------------

    @api.constrains("transaction_price")
    def _check_transaction_price(self):
        for contract in self:
            if contract.currency_id.compare_amounts(contract.transaction_price, 0.0) < 0:
                raise ValidationError(
                    _(
                        "Contract %(contract)s: the transaction price cannot be negative.",
                        contract=contract.name,
                    )
                )

    # ------------------------------------------------------------------
    # Onchanges
    # ------------------------------------------------------------------

    @api.onchange("obligation_ids", "discount_amount", "variable_consideration")
    def _onchange_transaction_price_parts(self):
        for contract in self:
            list_amount = sum(contract.obligation_ids.mapped("list_amount"))
            contract.transaction_price = contract.currency_id.round(
                list_amount - contract.discount_amount + contract.variable_consideration
            )

    # ------------------------------------------------------------------
    # CRUD
    # ------------------------------------------------------------------

    @api.model_create_multi
    def create(self, vals_list):
        for vals in vals_list:
            if not vals.get("name") or vals["name"] == _("New"):
                vals["name"] = self.env["ir.sequence"].with_company(
                    vals.get("company_id")
                ).next_by_code("q2c.revenue.contract", sequence_date=vals.get("date")) or _("New")
        return super().create(vals_list)

    @api.ondelete(at_uninstall=False)
    def _unlink_except_posted(self):
        for contract in self:
            if contract.schedule_line_ids.filtered(lambda line: line.state == "posted"):
                raise UserError(
                    _(
                        "Contract %(contract)s has posted revenue and cannot be deleted.",
                        contract=contract.name,
                    )
                )

    # ------------------------------------------------------------------
    # Actions
    # ------------------------------------------------------------------

    def allocate(self):
        """Allocate the transaction price to the obligations by relative standalone selling price.

        Exact ratios, then largest remainder so that the allocated amounts add up exactly to the
        transaction price. Returns ``[{"obligation_id", "ssp", "allocated_amount"}]``.
        """
        self.check_access("write")
        return self._allocate()

    def action_allocate(self):
        self.allocate()
        return True

    def action_activate(self):
        """Allocate when needed and build the revenue schedule of every obligation."""
        self.check_access("write")
        self._action_activate()
        return True

    def action_close(self):
        self.check_access("write")
        for contract in self:
            if contract.state != "active":
                raise UserError(_("Contract %(contract)s is not active.", contract=contract.name))
            if contract.schedule_line_ids.filtered(lambda line: line.state == "planned"):
                raise UserError(
                    _(
                        "Contract %(contract)s still has revenue to recognize: run the recognition "
                        "until its last period before closing it.",
                        contract=contract.name,
                    )
                )
        self.state = "closed"
        return True

    def action_draft(self):
        """Back to draft: drops the planned schedule (nothing may be posted yet)."""
        self.check_access("write")
        for contract in self:
            if contract.schedule_line_ids.filtered(lambda line: line.state == "posted"):
                raise UserError(
                    _(
                        "Contract %(contract)s has posted revenue: it cannot go back to draft.",
                        contract=contract.name,
                    )
                )
        self.schedule_line_ids.unlink()
        self.state = "draft"
        return True

    def action_view_moves(self):
        self.ensure_one()
        moves = self.schedule_line_ids.move_id
        return {
            "type": "ir.actions.act_window",
            "name": _("Revenue Entries"),
            "res_model": "account.move",
            "view_mode": "list,form",
            "domain": [("id", "in", moves.ids)],
            "context": {"create": False},
        }

    def action_view_schedule(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "q2c_revrec.q2c_revenue_schedule_line_action"
        )
        action["domain"] = [("contract_id", "=", self.id)]
        action["context"] = {"search_default_group_by_obligation": 1}
        return action

    # ------------------------------------------------------------------
    # Business methods
    # ------------------------------------------------------------------

    def _allocate(self):
        result = []
        for contract in self:
            if contract.state != "draft":
                raise UserError(
                    _(
                        "Contract %(contract)s is %(state)s: allocate only draft contracts "
                        "(set it back to draft first).",
                        contract=contract.name,
                        state=contract._q2c_state_label(),
                    )
                )
            obligations = contract.obligation_ids.sorted("sequence")
            if not obligations:
                raise UserError(
                    _(
                        "Contract %(contract)s has no performance obligation to allocate to.",
                        contract=contract.name,
                    )
                )
            for obligation, amount in contract._q2c_allocation(obligations).items():
                obligation.allocated_amount = amount
                result.append(
                    {
                        "obligation_id": obligation.id,
                        "ssp": obligation.ssp,
                        "allocated_amount": amount,
                    }
                )
        return result

    def _q2c_state_label(self):
        self.ensure_one()
        return dict(self._fields["state"]._description_selection(self.env))[self.state]

    def _q2c_allocation(self, obligations):
        """``{obligation: amount}``: the transaction price split over ``obligations`` by
        relative SSP (exact ratios, largest remainder), in their order."""
        self.ensure_one()
        rounding = self.currency_id.rounding
        total_units = tools.to_units(self.transaction_price, rounding)
        weights = [tools.to_fraction(o.ssp) for o in obligations]
        if sum(weights) <= 0:
            if total_units:
                raise UserError(
                    _(
                        "Contract %(contract)s: every obligation has a zero standalone "
                        "selling price (SSP), so the transaction price %(price)s cannot be "
                        "allocated. Set the SSP of at least one obligation (or a standalone "
                        "selling price of its product).",
                        contract=self.name,
                        price=self.transaction_price,
                    )
                )
            parts = [0] * len(obligations)
        else:
            parts = tools.largest_remainder(total_units, weights)
        return {
            obligation: tools.from_units(units, rounding)
            for obligation, units in zip(obligations, parts, strict=True)
        }

    def _action_activate(self):
        for contract in self:
            if contract.state != "draft":
                raise UserError(
                    _("Contract %(contract)s is already active.", contract=contract.name)
                )
            if not contract.obligation_ids:
                raise UserError(
                    _(
                        "Contract %(contract)s has no performance obligation.",
                        contract=contract.name,
                    )
                )
        self._check_obligations_ready()
        to_allocate = self.filtered(
            lambda c: c.currency_id.compare_amounts(
                sum(c.obligation_ids.mapped("allocated_amount")), c.transaction_price
            )
        )
        to_allocate._allocate()
        vals_list = []
        for obligation in self.obligation_ids:
            vals_list += obligation._prepare_schedule_line_vals_list()
        self.state = "active"
        lines = self.env["q2c.revenue.schedule.line"].create(vals_list)
        by_contract = lines.grouped("contract_id")
        self._message_log_batch(
            bodies={
                contract.id: self.env._(
                    "Contract activated: %(count)s schedule lines, %(amount)s to recognize.",
                    count=len(by_contract.get(contract, [])),
                    amount=contract.currency_id.round(
                        sum(by_contract.get(contract, lines.browse()).mapped("amount"))
                    ),
                )
                for contract in self
            }
        )

    def _check_obligations_ready(self):
        for obligation in self.obligation_ids:
            obligation._check_schedule_inputs()

    def _q2c_billed_by_contract(self, date_to=None, by_date=False):
        """Billed amounts (contract currency) of the posted customer invoice lines linked to
        these contracts.

        Returns ``{contract_id: amount}``, or ``{contract_id: [(date, amount), ...]}`` sorted by
        date when ``by_date``. Credit notes count negative.
        """
        self.env["account.move.line"].flush_model(
            [
                "q2c_revenue_contract_id",
                "amount_currency",
                "balance",
                "currency_id",
                "date",
                "parent_state",
                "display_type",
            ]
        )
        self.env["account.move"].flush_model(["move_type"])
        query = SQL(
            """
            SELECT aml.q2c_revenue_contract_id, aml.date, aml.currency_id, aml.company_id,
                   SUM(aml.amount_currency), SUM(aml.balance)
              FROM account_move_line aml
              JOIN account_move move ON move.id = aml.move_id
             WHERE aml.q2c_revenue_contract_id = ANY(%(ids)s)
               AND aml.parent_state = 'posted'
               AND aml.display_type = 'product'
               AND move.move_type IN ('out_invoice', 'out_refund', 'out_receipt')
               %(date_clause)s
          GROUP BY aml.q2c_revenue_contract_id, aml.date, aml.currency_id, aml.company_id
          ORDER BY aml.q2c_revenue_contract_id, aml.date
            """,
            ids=self.ids,
            date_clause=SQL("AND aml.date <= %s", date_to) if date_to else SQL(),
        )
        rows = self.env.execute_query(query)
        contracts = self.browse({row[0] for row in rows})
        currency_of = {c.id: c.currency_id for c in contracts}
        result = defaultdict(list) if by_date else defaultdict(float)
        companies = self.env["res.company"].browse({row[3] for row in rows})
        for contract_id, day, currency_id, company_id, amount_currency, balance in rows:
            currency = currency_of[contract_id]
            if currency_id == currency.id:
                amount = -amount_currency
            else:
                company = companies.browse(company_id)
                amount = company.currency_id._convert(-balance, currency, company, day, round=False)
            if by_date:
                result[contract_id].append((day, amount))
            else:
                result[contract_id] += amount
        return dict(result)

    @api.model
    def waterfall(self, date_from, date_to):
        """Revenue waterfall: one row per contract and month between the two dates.

        Each row has the month's billed and recognized (scheduled) amounts and the contract's
        positions at month end, netted per contract: ``deferred`` = billed - recognized when
        positive (contract liability), ``unbilled`` = recognized - billed when positive (contract
        asset). Amounts in the contract currency, rounded to it.
        """
        self.check_access("read")
        date_from, date_to = (
            self._q2c_parse_date(date_from, "date_from"),
            self._q2c_parse_date(date_to, "date_to"),
        )
        if date_from > date_to:
            raise UserError(
                _(
                    "Waterfall: date_from (%(from)s) is after date_to (%(to)s).",
                    **{"from": date_from, "to": date_to},
                )
            )
        first_month = date_from.replace(day=1)
        months = []
        current = first_month
        while current <= date_to:
            months.append((current, tools.month_end(current)))
            current = periods.add_months(current, 1)
        Line = self.env["q2c.revenue.schedule.line"]
        contracts = self.search([("state", "not in", ("draft", "combined"))])
        if not contracts:
            return []
        # sudo: invoice lines are read for contracts the user may read (checked above and by
        # the search), whatever the user's accounting rights.
        billed = contracts.sudo()._q2c_billed_by_contract(date_to=months[-1][1], by_date=True)
        recognized = defaultdict(list)
        for contract, day, amount in Line._read_group(
            [("contract_id", "in", contracts.ids), ("date", "<=", months[-1][1])],
            ["contract_id", "date:day"],
            ["amount:sum"],
        ):
            recognized[contract.id].append((day, amount))
        rows = []
        for contract in contracts.sorted(lambda c: (c.name, c.id)):
            events_billed = billed.get(contract.id, [])
            events_recognized = recognized.get(contract.id, [])
            if not events_billed and not events_recognized:
                continue
            currency = contract.currency_id
            for month_start, month_last in months:
                billed_cum = sum(a for d, a in events_billed if d <= month_last)
                recognized_cum = sum(a for d, a in events_recognized if d <= month_last)
                billed_month = sum(a for d, a in events_billed if month_start <= d <= month_last)
                recognized_month = sum(
                    a for d, a in events_recognized if month_start <= d <= month_last
                )
                net = currency.round(billed_cum - recognized_cum)
                row = {
                    "contract_id": contract.id,
                    "contract": contract.name,
                    "partner_id": contract.partner_id.id,
                    "month": month_start.strftime("%Y-%m"),
                    "billed": currency.round(billed_month),
                    "recognized": currency.round(recognized_month),
                    "deferred": max(net, 0.0),
                    "unbilled": max(-net, 0.0),
                    "currency": currency.name,
                }
                if any(row[key] for key in ("billed", "recognized", "deferred", "unbilled")):
                    rows.append(row)
        return rows

    @api.model
    def _q2c_parse_date(self, value, field_name):
        if isinstance(value, date_cls):
            return value
        try:
            return fields.Date.to_date(value)
        except (TypeError, ValueError):
            raise UserError(
                _("%(field)s: %(value)r is not a date (YYYY-MM-DD).", field=field_name, value=value)
            ) from None
