import json
from bisect import bisect_right
from collections import defaultdict
from datetime import timedelta

from markupsafe import Markup

from odoo import Command, _, api, fields, models
from odoo.exceptions import UserError
from odoo.tools import SQL, format_date

from .. import tools


class Q2cRevrecRun(models.Model):
    """A recognition run posts, for one company, every planned schedule line whose period ends on
    or before its date: one journal entry per journal, accounting period and currency, with
    lines grouped by account (and analytic distribution for revenue)."""

    _name = "q2c.revrec.run"
    _description = "Revenue Recognition Run"
    _inherit = ["mail.thread"]
    _order = "date desc, id desc"
    _check_company_auto = True

    name = fields.Char(compute="_compute_name", store=True)
    date = fields.Date(
        required=True,
        default=fields.Date.context_today,
        help="Every planned period ending on or before this date is posted.",
    )
    company_id = fields.Many2one(
        "res.company", required=True, default=lambda self: self.env.company, index=True
    )
    currency_id = fields.Many2one(related="company_id.currency_id")
    state = fields.Selection(
        [("draft", "Draft"), ("done", "Done")], default="draft", required=True, readonly=True
    )
    user_id = fields.Many2one("res.users", default=lambda self: self.env.user, readonly=True)
    move_ids = fields.One2many(
        "account.move", "q2c_revrec_run_id", string="Journal Entries", readonly=True
    )
    move_count = fields.Integer(compute="_compute_move_count")
    line_count = fields.Integer(string="Schedule Lines Posted", readonly=True)
    recognized = fields.Monetary(
        string="Recognized", readonly=True, help="Revenue posted, in the company currency."
    )
    note = fields.Html(readonly=True)

    @api.depends("date", "company_id")
    def _compute_name(self):
        for run in self:
            run.name = (
                _("Recognition of %(date)s", date=format_date(self.env, run.date))
                if run.date
                else _("New")
            )

    def _compute_move_count(self):
        for run in self:
            run.move_count = len(run.move_ids)

    # ------------------------------------------------------------------
    # Public API
    # ------------------------------------------------------------------

    @api.model
    def run_recognition(self, date):
        """Post the revenue of every planned period ending on or before ``date`` in the user's
        companies. Idempotent: a second call for the same date posts nothing new.

        Returns ``{"move_ids": [...], "recognized": float, "line_count": int}``; ``recognized``
        is the revenue posted (company currency).
        """
        self.check_access("create")
        day = self.env["q2c.revenue.contract"]._q2c_parse_date(date, "date")
        if not day:
            raise UserError(_("date: a date (YYYY-MM-DD) is required."))
        # sudo: the access right to run the recognition is checked above; the run writes journal
        # entries and schedule lines of the user's companies only.
        runs = self.sudo().create(
            [{"date": day, "company_id": company.id} for company in self.env.companies]
        )
        result = runs._action_run()
        runs.filtered(lambda run: not run.line_count and not run.move_ids).unlink()
        return result

    def action_run(self):
        self.check_access("write")
        # sudo: see run_recognition.
        self.sudo()._action_run()
        return True

    def action_view_moves(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "name": _("Revenue Entries"),
            "res_model": "account.move",
            "view_mode": "list,form",
            "domain": [("id", "in", self.move_ids.ids)],
            "context": {"create": False},
        }

    # ------------------------------------------------------------------
    # Cron
    # ------------------------------------------------------------------

    @api.model
    def _cron_run_recognition(self, contract_batch=5000):
        """Monthly: post what is due at today's date, company by company, in bounded batches."""
        today = fields.Date.context_today(self)
        done = remaining = 0
        for company in self.env["res.company"].sudo().search([]):
            if not company.q2c_revrec_journal_id:
                continue
            run = (
                self.sudo().with_company(company).create({"date": today, "company_id": company.id})
            )
            result = run._q2c_post(contract_limit=contract_batch)
            run.state = "done"
            done += result["line_count"]
            remaining += result["remaining_contracts"]
            if not run.line_count and not run.move_ids:
                run.unlink()
        self.env["ir.cron"]._notify_progress(done=done, remaining=remaining)

    # ------------------------------------------------------------------
    # Posting
    # ------------------------------------------------------------------

    def _action_run(self):
        move_ids, recognized, line_count = [], 0.0, 0
        for run in self:
            if run.state == "done":
                raise UserError(_("%(run)s is already done.", run=run.name))
            result = run.with_company(run.company_id)._q2c_post()
            run.state = "done"
            move_ids += result["move_ids"]
            recognized += result["recognized"]
            line_count += result["line_count"]
        currency = self.company_id.currency_id[:1]
        return {
            "move_ids": move_ids,
            "recognized": currency.round(recognized) if currency else recognized,
            "line_count": line_count,
        }

    def _q2c_lock_date(self, journal):
        """Last locked day for revenue entries of this run's company (fiscal year, hard and sales
        lock dates, with the user's exceptions)."""
        company = self.company_id
        return max(company._get_user_fiscal_lock_date(journal), company.user_sale_lock_date)

    def _q2c_post(self, contract_limit=None):
        """Post this run's company revenue due at the run date. See the class docstring.

        Per contract, the amount recognized is taken from deferred revenue (contract liability)
        as far as it is billed; the excess goes to unbilled revenue (contract asset), and
        billing that catches up moves it back (the positions are netted per contract).
        """
        self.ensure_one()
        company, day = self.company_id, self.date
        journal = company.q2c_revrec_journal_id
        if not journal:
            raise UserError(
                _(
                    "Company %(company)s has no revenue recognition journal: set it in Accounting "
                    "settings (Revenue Recognition).",
                    company=company.name,
                )
            )
        lock = self._q2c_lock_date(journal)

        def posting_date(period_end):
            return period_end if period_end > lock else lock + timedelta(days=1)

        Line = self.env["q2c.revenue.schedule.line"]
        Contract = self.env["q2c.revenue.contract"]
        Obligation = self.env["q2c.performance.obligation"]
        Line.flush_model()
        Contract.flush_model(["state", "company_id", "currency_id"])
        Obligation.flush_model(["contract_id", "sequence"])

        due_contracts = self._q2c_due_contract_ids(day, contract_limit)
        remaining = 0
        if contract_limit and len(due_contracts) > contract_limit:
            remaining = len(due_contracts) - contract_limit
            due_contracts = due_contracts[:contract_limit]
        candidates = set(due_contracts)
        if not remaining:
            candidates |= self._q2c_netting_candidate_ids(day)
        held = self._q2c_held_contracts(candidates, day) if candidates else {}
        candidates -= set(held)
        # Lock the contracts: a concurrent run skips them (and fails to serialize if it read them
        # before this one commits), so no period is posted twice.
        candidate_ids = (
            [
                row[0]
                for row in self.env.execute_query(
                    SQL(
                        "SELECT id FROM q2c_revenue_contract WHERE id = ANY(%s)"
                        " ORDER BY id FOR UPDATE SKIP LOCKED",
                        sorted(candidates),
                    )
                )
            ]
            if candidates
            else []
        )
        if not candidate_ids:
            return {
                "move_ids": [],
                "recognized": 0.0,
                "line_count": 0,
                "remaining_contracts": remaining,
            }
        due_rows = self.env.execute_query(
            SQL(
                """
                SELECT l.id, l.obligation_id, l.contract_id, l.date, l.amount
                  FROM q2c_revenue_schedule_line l
                 WHERE l.contract_id = ANY(%(contracts)s)
                   AND l.state = 'planned' AND l.line_type = 'revenue' AND l.date <= %(day)s
              ORDER BY l.contract_id, l.date, l.id
                """,
                contracts=candidate_ids,
                day=day,
            )
        )

        posted = {
            contract_id: (amount or 0.0, unbilled or 0.0)
            for contract_id, amount, unbilled in self.env.execute_query(
                SQL(
                    """
                    SELECT contract_id, SUM(amount), SUM(unbilled_amount)
                      FROM q2c_revenue_schedule_line
                     WHERE contract_id = ANY(%s) AND state = 'posted'
                  GROUP BY contract_id
                    """,
                    candidate_ids,
                )
            )
        }
        contracts = Contract.browse(candidate_ids)
        contracts.fetch(["currency_id", "name"])
        billed = self._q2c_cumulative_billed(contracts, posting_date(day))

        # Obligations: the due ones and each contract's first (for netting-only postings).
        first_obligation = dict(
            self.env.execute_query(
                SQL(
                    """
                    SELECT DISTINCT ON (contract_id) contract_id, id
                      FROM q2c_performance_obligation
                     WHERE contract_id = ANY(%s)
                  ORDER BY contract_id, sequence, id
                    """,
                    candidate_ids,
                )
            )
        )
        obligations = Obligation.browse(
            {row[1] for row in due_rows} | set(first_obligation.values())
        )
        obligations.fetch(["product_id", "analytic_distribution"])
        accounts = self._q2c_obligation_accounts(obligations)
        # obligation id -> (revenue, deferred, unbilled account ids, analytic key)
        posting_keys = {
            obligation.id: (
                accounts[obligation.id]["revenue"].id,
                accounts[obligation.id]["deferred"].id,
                accounts[obligation.id]["unbilled"].id,
                obligation._q2c_analytic_key(),
            )
            for obligation in obligations
        }

        lines_by_contract = defaultdict(list)
        for row in due_rows:
            lines_by_contract[row[2]].append(row)

        buckets = {}
        line_updates = []  # (line id, bucket key, unbilled units)
        netting_lines = []  # (obligation id, bucket key, date, unbilled units)
        shifted = defaultdict(set)  # contract id -> periods moved by a lock date

        def bucket_for(currency, when):
            key = (currency.id, when.year, when.month)
            bucket = buckets.get(key)
            if not bucket:
                bucket = buckets[key] = {
                    "currency": currency,
                    "date": when,
                    "amounts": defaultdict(int),
                }
            bucket["date"] = max(bucket["date"], when)
            return key, bucket["amounts"]

        for contract in contracts:
            if contract.id not in first_obligation:
                continue
            currency = contract.currency_id
            rounding = currency.rounding
            recognized, unbilled = posted.get(contract.id, (0.0, 0.0))
            recognized_units = tools.to_units(recognized, rounding)
            unbilled_units = tools.to_units(unbilled, rounding)
            billed_dates, billed_cumulated = billed.get(contract.id, ((), ()))
            _revenue, primary_deferred, primary_unbilled, _analytic = posting_keys[
                first_obligation[contract.id]
            ]

            def billed_units(until, dates=billed_dates, cumulated=billed_cumulated):
                index = bisect_right(dates, until)
                return cumulated[index - 1] if index else 0

            periods = defaultdict(list)
            for row in lines_by_contract.get(contract.id, ()):
                periods[row[3]].append(row)
            for period_end in sorted(periods):
                when = posting_date(period_end)
                if when != period_end:
                    shifted[contract.id].add(period_end)
                key, amounts = bucket_for(currency, when)
                period_rows = periods[period_end]
                units = [tools.to_units(row[4], rounding) for row in period_rows]
                total = sum(units)
                target_unbilled = max(recognized_units + total - billed_units(when), 0)
                delta_unbilled = target_unbilled - unbilled_units
                left = delta_unbilled
                for row, amount_units in zip(period_rows, units, strict=True):
                    revenue_id, deferred_id, _unbilled_id, analytic = posting_keys[row[1]]
                    take = min(max(left, 0), amount_units) if amount_units > 0 else 0
                    left -= take
                    amounts[("revenue", revenue_id, analytic)] -= amount_units
                    amounts[("deferred", deferred_id, contract.id)] += amount_units - take
                    line_updates.append((row[0], key, take))
                if left:
                    # Netting beyond this period's revenue: on the first obligation's accounts.
                    amounts[("deferred", primary_deferred, contract.id)] -= left
                    line_id, line_key, take = line_updates[-1]
                    line_updates[-1] = (line_id, line_key, take + left)
                if delta_unbilled:
                    amounts[("unbilled", primary_unbilled, contract.id)] += delta_unbilled
                recognized_units += total
                unbilled_units = target_unbilled
            # Billing after the last posted period: net the positions at the run date.
            when = posting_date(day)
            target_unbilled = max(recognized_units - billed_units(when), 0)
            delta_unbilled = target_unbilled - unbilled_units
            if delta_unbilled:
                key, amounts = bucket_for(currency, when)
                amounts[("deferred", primary_deferred, contract.id)] -= delta_unbilled
                amounts[("unbilled", primary_unbilled, contract.id)] += delta_unbilled
                netting_lines.append((first_obligation[contract.id], key, when, delta_unbilled))

        move_of = self._q2c_create_moves(buckets, journal)
        moves = (
            self.env["account.move"].union(*move_of.values())
            if move_of
            else self.env["account.move"]
        )
        self._q2c_mark_posted(line_updates, move_of, buckets)
        if netting_lines:
            Line.create(
                [
                    {
                        "obligation_id": obligation_id,
                        "line_type": "reclass",
                        "date": when,
                        "service_date_from": when,
                        "service_date_to": when,
                        "amount": 0.0,
                        "unbilled_amount": tools.from_units(
                            units, buckets[key]["currency"].rounding
                        ),
                        "state": "posted",
                        "move_id": move_of[key].id,
                        "posted_date": when,
                        "run_id": self.id,
                    }
                    for obligation_id, key, when, units in netting_lines
                ]
            )
        if shifted:
            self._q2c_log_lock_shifts(contracts, shifted, lock, posting_date)
        recognized = -sum(
            line.balance for line in moves.line_ids if line.q2c_revrec_role == "revenue"
        )
        recognized = company.currency_id.round(recognized)
        self.write({"line_count": len(line_updates), "recognized": recognized})
        return {
            "move_ids": moves.ids,
            "recognized": recognized,
            "line_count": len(line_updates),
            "remaining_contracts": remaining,
        }

    def _q2c_held_contracts(self, contract_ids, day):
        """Contracts whose recognition is held by the company's collectibility policy:
        ``{contract id: [invoice names]}`` of the contracts with a posted invoice flagged
        doubtful by dunning (q2c_dunning, optional). A note on each held contract with revenue
        due says so."""
        company = self.company_id
        if not company.q2c_revrec_hold_doubtful or (
            "q2c_collectibility" not in self.env["account.move"]._fields
        ):
            return {}
        self.env["account.move"].flush_model(["q2c_collectibility", "state", "name"])
        rows = self.env.execute_query(
            SQL(
                """
                SELECT DISTINCT aml.q2c_revenue_contract_id, move.name
                  FROM account_move_line aml
                  JOIN account_move move ON move.id = aml.move_id
                 WHERE aml.q2c_revenue_contract_id = ANY(%(contracts)s)
                   AND move.state = 'posted'
                   AND move.q2c_collectibility = 'doubtful'
              ORDER BY 1, 2
                """,
                contracts=sorted(contract_ids),
            )
        )
        held = defaultdict(list)
        for contract_id, name in rows:
            held[contract_id].append(name)
        if held:
            due = {
                row[0]
                for row in self.env.execute_query(
                    SQL(
                        """
                        SELECT DISTINCT contract_id FROM q2c_revenue_schedule_line
                         WHERE contract_id = ANY(%(contracts)s) AND state = 'planned'
                           AND line_type = 'revenue' AND date <= %(day)s
                        """,
                        contracts=list(held),
                        day=day,
                    )
                )
            }
            bodies = {
                contract_id: _(
                    "Revenue recognition of %(date)s held: invoice(s) %(invoices)s are doubtful "
                    "of collection (company policy).",
                    date=format_date(self.env, day),
                    invoices=", ".join(names),
                )
                for contract_id, names in held.items()
                if contract_id in due
            }
            if bodies:
                self.env["q2c.revenue.contract"].browse(list(bodies))._message_log_batch(
                    bodies=bodies
                )
        return dict(held)

    def _q2c_due_contract_ids(self, day, limit=None):
        query = SQL(
            """
            SELECT DISTINCT l.contract_id
              FROM q2c_revenue_schedule_line l
              JOIN q2c_revenue_contract c ON c.id = l.contract_id
             WHERE l.company_id = %(company)s AND l.state = 'planned' AND l.line_type = 'revenue'
               AND l.date <= %(day)s AND c.state IN ('active', 'closed')
          ORDER BY l.contract_id
             %(limit)s
            """,
            company=self.company_id.id,
            day=day,
            limit=SQL("LIMIT %s", limit + 1) if limit else SQL(),
        )
        return [row[0] for row in self.env.execute_query(query)]

    def _q2c_netting_candidate_ids(self, day):
        """Active or closed contracts of the company whose asset / liability position may need
        netting: those billed, and those with revenue through the contract asset."""
        self.env["account.move.line"].flush_model(
            ["q2c_revenue_contract_id", "parent_state", "date", "q2c_revrec_role"]
        )
        query = SQL(
            """
            SELECT aml.q2c_revenue_contract_id
              FROM account_move_line aml
              JOIN q2c_revenue_contract c ON c.id = aml.q2c_revenue_contract_id
             WHERE aml.parent_state = 'posted' AND aml.date <= %(day)s
               AND aml.q2c_revrec_role IS NULL
               AND c.company_id = %(company)s AND c.state IN ('active', 'closed')
             UNION
            SELECT l.contract_id
              FROM q2c_revenue_schedule_line l
              JOIN q2c_revenue_contract c ON c.id = l.contract_id
             WHERE l.state = 'posted' AND l.company_id = %(company)s
               AND c.state IN ('active', 'closed')
          GROUP BY l.contract_id
            HAVING SUM(l.unbilled_amount) != 0
            """,
            day=max(
                day, self._q2c_lock_date(self.company_id.q2c_revrec_journal_id) + timedelta(days=1)
            ),
            company=self.company_id.id,
        )
        return {row[0] for row in self.env.execute_query(query)}

    def _q2c_obligation_accounts(self, obligations):
        """Revenue, deferred and unbilled accounts of each obligation (``{id: {role: account}}``),
        for the run's company; a missing account is an error naming the product."""
        company = self.company_id
        by_product = {}
        result = {}
        for obligation in obligations:
            product = obligation.product_id
            if product.id not in by_product:
                accounts = product.product_tmpl_id.with_company(company)._q2c_get_revrec_accounts()
                for role, label in (
                    ("revenue", _("income account")),
                    ("deferred", _("deferred revenue account")),
                    ("unbilled", _("unbilled revenue account")),
                ):
                    if not accounts[role]:
                        raise UserError(
                            _(
                                "Product %(product)s (category %(category)s) has no %(account)s in "
                                "company %(company)s: set it on the product category or in the "
                                "Accounting settings (Revenue Recognition).",
                                product=product.display_name,
                                category=product.categ_id.display_name,
                                account=label,
                                company=company.name,
                            )
                        )
                by_product[product.id] = accounts
            result[obligation.id] = by_product[product.id]
        return result

    def _q2c_create_moves(self, buckets, journal):
        """One posted move per bucket (journal, month, currency): revenue lines per account and
        analytic distribution; contract asset and liability items per contract (the
        ledger-subledger reconciliation reads them by contract).

        Tens of thousands of contracts make as many journal items: Odoo's journal item
        creation costs milliseconds per item, so each account's contract items are created
        and posted as one item, then split per contract in SQL (``_q2c_split_items``)."""
        company = self.company_id
        company_currency = company.currency_id
        labels = {
            "revenue": _("Revenue recognized"),
            "deferred": _("Deferred revenue (contract liability)"),
            "unbilled": _("Unbilled revenue (contract asset)"),
        }
        vals_list, keys, splits_of = [], [], []
        for key, bucket in buckets.items():
            currency, when = bucket["currency"], bucket["date"]
            period = when.strftime("%Y-%m")

            def to_balance(amount, currency=currency, when=when):
                if currency == company_currency:
                    return amount
                return currency._convert(amount, company_currency, company, when)

            groups = {}
            for (role, account_id, extra), units in sorted(
                bucket["amounts"].items(),
                key=lambda item: (item[0][0], item[0][1], str(item[0][2] or "")),
            ):
                if not units:
                    continue
                # Revenue lines are grouped by analytic distribution; contract asset and
                # liability items are kept per contract.
                group_key = (role, account_id, extra if role == "revenue" else None)
                group = groups.setdefault(group_key, [])
                if role != "revenue":
                    amount = tools.from_units(units, currency.rounding)
                    group.append([extra, amount, to_balance(amount)])
                else:
                    group.append(units)
            if journal.restrict_mode_hash_table:
                # An inalterable journal hashes its items on posting: no split afterwards.
                groups = {
                    (role, account_id, analytic_key if role == "revenue" else member[0]): (
                        members if role == "revenue" else [member]
                    )
                    for (role, account_id, analytic_key), members in groups.items()
                    for member in (members[:1] if role == "revenue" else members)
                }
            lines, line_splits = [], []
            for (role, account_id, analytic_key), members in groups.items():
                if role == "revenue":
                    amount = tools.from_units(sum(members), currency.rounding)
                    balance, contract_id, splits = to_balance(amount), False, None
                else:
                    amount = currency.round(sum(member[1] for member in members))
                    balance = company_currency.round(sum(member[2] for member in members))
                    contract_id = members[0][0] if len(members) == 1 else False
                    splits = members if len(members) > 1 else None
                lines.append(
                    {
                        "name": f"{labels[role]} {period}",
                        "account_id": account_id,
                        "currency_id": currency.id,
                        "amount_currency": amount,
                        "balance": balance,
                        "analytic_distribution": json.loads(analytic_key)
                        if analytic_key and role == "revenue"
                        else False,
                        "q2c_revrec_role": role,
                        "q2c_revenue_contract_id": contract_id,
                    }
                )
                line_splits.append(splits)
            if lines and currency != company_currency:
                difference = company_currency.round(-sum(line["balance"] for line in lines))
                if difference:
                    index = max(range(len(lines)), key=lambda i: abs(lines[i]["balance"]))
                    biggest = lines[index]
                    biggest["balance"] = company_currency.round(biggest["balance"] + difference)
                    if line_splits[index]:
                        split = max(line_splits[index], key=lambda member: abs(member[2]))
                        split[2] = company_currency.round(split[2] + difference)
            if not lines:
                continue
            keys.append(key)
            splits_of.append(
                [
                    (line["q2c_revrec_role"], line["account_id"], splits)
                    for line, splits in zip(lines, line_splits, strict=True)
                    if splits
                ]
            )
            vals_list.append(
                {
                    "move_type": "entry",
                    "journal_id": journal.id,
                    "company_id": company.id,
                    "date": when,
                    "currency_id": currency.id,
                    "ref": _("Revenue recognition %(period)s", period=period),
                    "q2c_revrec_run_id": self.id,
                    "line_ids": [Command.create(line) for line in lines],
                }
            )
        moves = self.env["account.move"].create(vals_list)
        moves._post(soft=False)
        self._q2c_split_items(moves, splits_of)
        Move = self.env["account.move"]
        move_of = dict.fromkeys(buckets, Move)
        move_of.update(zip(keys, moves, strict=True))
        return move_of

    def _q2c_split_items(self, moves, splits_of):
        """Replace each posted journal item that stands for several contracts by one item per
        contract: copies of the item (same move, account, dates, state, labels) with the
        contract's amounts, in one INSERT ... SELECT per item, then delete the item. The
        amounts add up to the item's, so the move stays balanced and its totals unchanged."""
        self.env.flush_all()
        self.env.cr.execute(
            SQL(
                """
                SELECT column_name FROM information_schema.columns
                 WHERE table_name = 'account_move_line' AND table_schema = current_schema()
                """
            )
        )
        amount_columns = {
            "id",
            "balance",
            "debit",
            "credit",
            "amount_currency",
            "amount_residual",
            "amount_residual_currency",
            "reconciled",
            "price_subtotal",
            "price_total",
            "q2c_revenue_contract_id",
        }
        copied = [row[0] for row in self.env.cr.fetchall() if row[0] not in amount_columns]
        columns = SQL(", ").join(SQL.identifier(column) for column in copied)
        source_columns = SQL(", ").join(SQL.identifier("aml", column) for column in copied)
        for move, splits in zip(moves, splits_of, strict=True):
            for role, account_id, members in splits:
                item = move.line_ids.filtered(
                    lambda line, role=role, account_id=account_id: (
                        line.q2c_revrec_role == role
                        and line.account_id.id == account_id
                        and not line.q2c_revenue_contract_id
                    )
                )
                item.ensure_one()
                self.env.cr.execute(
                    SQL(
                        """
                        INSERT INTO account_move_line (%(columns)s, balance, debit, credit,
                               amount_currency, amount_residual, amount_residual_currency,
                               reconciled, price_subtotal, price_total, q2c_revenue_contract_id)
                        SELECT %(source)s, s.balance, GREATEST(s.balance, 0),
                               GREATEST(-s.balance, 0), s.amount_currency,
                               CASE WHEN acc.reconcile THEN s.balance ELSE 0 END,
                               CASE WHEN acc.reconcile THEN s.amount_currency ELSE 0 END,
                               FALSE,
                               CASE WHEN aml.price_subtotal = 0 THEN 0 ELSE s.amount_currency END,
                               CASE WHEN aml.price_total = 0 THEN 0 ELSE s.amount_currency END,
                               s.contract_id
                          FROM account_move_line aml
                          JOIN account_account acc ON acc.id = aml.account_id,
                               unnest(%(contracts)s::int[], %(amounts)s::numeric[],
                                      %(balances)s::numeric[])
                                   AS s(contract_id, amount_currency, balance)
                         WHERE aml.id = %(item)s
                        """,
                        columns=columns,
                        source=source_columns,
                        contracts=[member[0] for member in members],
                        amounts=[member[1] for member in members],
                        balances=[member[2] for member in members],
                        item=item.id,
                    )
                )
                self.env.cr.execute(SQL("DELETE FROM account_move_line WHERE id = %s", item.id))
        self.env["account.move.line"].invalidate_model()
        moves.invalidate_recordset(["line_ids"])

    def _q2c_mark_posted(self, line_updates, move_of, buckets):
        if not line_updates:
            return
        ids, move_ids, dates, unbilled = [], [], [], []
        for line_id, key, units in line_updates:
            ids.append(line_id)
            move_ids.append(move_of[key].id or None)
            dates.append(buckets[key]["date"])
            unbilled.append(tools.from_units(units, buckets[key]["currency"].rounding))
        self.env.cr.execute(
            SQL(
                """
                UPDATE q2c_revenue_schedule_line line
                   SET state = 'posted', move_id = v.move_id, posted_date = v.posted_date,
                       unbilled_amount = v.unbilled, run_id = %(run)s,
                       write_uid = %(uid)s, write_date = (now() at time zone 'UTC')
                  FROM unnest(%(ids)s::int[], %(moves)s::int[], %(dates)s::date[],
                              %(unbilled)s::numeric[]) AS v(id, move_id, posted_date, unbilled)
                 WHERE line.id = v.id
                """,
                run=self.id,
                uid=self.env.uid,
                ids=ids,
                moves=move_ids,
                dates=dates,
                unbilled=unbilled,
            )
        )
        self.env["q2c.revenue.schedule.line"].invalidate_model(
            [
                "state",
                "move_id",
                "posted_date",
                "unbilled_amount",
                "run_id",
                "write_uid",
                "write_date",
            ]
        )

    def _q2c_cumulative_billed(self, contracts, date_to):
        """``{contract id: (dates, cumulated billed units)}``, both sorted by date."""
        result = {}
        for contract_id, events in contracts._q2c_billed_by_contract(
            date_to=date_to, by_date=True
        ).items():
            rounding = contracts.browse(contract_id).currency_id.rounding
            dates, cumulated, total = [], [], 0
            for when, amount in events:
                total += tools.to_units(amount, rounding)
                if dates and dates[-1] == when:
                    cumulated[-1] = total
                else:
                    dates.append(when)
                    cumulated.append(total)
            result[contract_id] = (dates, cumulated)
        return result

    def _q2c_log_lock_shifts(self, contracts, shifted, lock, posting_date):
        bodies = {}
        for contract in contracts.filtered(lambda c: c.id in shifted):
            periods = sorted(shifted[contract.id])
            bodies[contract.id] = _(
                "Revenue of the locked period(s) %(periods)s posted on %(date)s, the first "
                "open date (lock date %(lock)s).",
                periods=", ".join(format_date(self.env, p) for p in periods),
                date=format_date(self.env, posting_date(periods[0])),
                lock=format_date(self.env, lock),
            )
        contracts.browse(list(bodies))._message_log_batch(bodies=bodies)
        self.note = Markup("<p>%s</p>") % _(
            "%(count)s contract(s) had revenue in locked periods (lock date %(lock)s): posted "
            "on %(date)s.",
            count=len(bodies),
            lock=format_date(self.env, lock),
            date=format_date(self.env, lock + timedelta(days=1)),
        )
