import re
from collections import defaultdict

from odoo import _, api, fields, models
from odoo.exceptions import UserError
from odoo.tools import SQL, float_round

# Modules whose overrides of the methods below the bulk path reproduces (or that do nothing for
# the run's invoices: sale's _post reconciles the payments of sale order transactions, which a
# run's invoices have none of). Any other module overriding one of them makes the run use the
# ORM for its invoices.
BULK_KNOWN_MODULES = frozenset({"account", "analytic", "mail", "sale", "q2c_billing"})
BULK_MOVE_METHODS = (
    "_post",
    "write",
    "_compute_amount",
    "_compute_payment_state",
    "_compute_name",
    "_compute_payment_reference",
    "_compute_made_sequence_gap",
    "_inverse_name",
    "_inverse_payment_reference",
)
BULK_LINE_METHODS = (
    "create",
    "write",
    "_compute_sequence",
    "_compute_debit_credit",
    "_compute_amount_residual",
    "_compute_totals",
    "_compute_tax_tag_invert",
    "_compute_name",
    "_compute_quantity",
    "_compute_price_unit",
)
# Journal item values the bulk path writes itself (the run's line values give the others of
# these, or they are empty on a new invoice's items). Any other key in the values makes the
# invoice go through the ORM.
BULK_ITEM_KEYS = frozenset(
    {
        "display_type",
        "product_id",
        "product_uom_id",
        "name",
        "quantity",
        "price_unit",
        "discount",
        "tax_ids",
        "tax_tag_ids",
        "account_id",
        "currency_id",
        "partner_id",
        "balance",
        "amount_currency",
        "analytic_distribution",
        "tax_repartition_line_id",
        "group_tax_id",
        "tax_base_amount",
        "date_maturity",
        "q2c_subscription_id",
        "q2c_subscription_line_id",
        "q2c_period_start",
        "q2c_period_end",
        "q2c_usage_metric_id",
        "q2c_usage_late",
    }
)
# Stored fields of the journal items and invoices whose values the bulk path gives (or that
# are empty on a new posted invoice). The stored computed fields of other modules are computed
# by the ORM on the created records; their other stored fields get their default.
BULK_LINE_FIELDS = BULK_ITEM_KEYS | {
    "id",
    "move_id",
    "journal_id",
    "company_id",
    "company_currency_id",
    "date",
    "invoice_date",
    "move_name",
    "parent_state",
    "ref",
    "sequence",
    "debit",
    "credit",
    "amount_residual",
    "amount_residual_currency",
    "reconciled",
    "price_subtotal",
    "price_total",
    "tax_tag_invert",
    "tax_line_id",
    "tax_group_id",
    "create_uid",
    "create_date",
    "write_uid",
    "write_date",
    # empty on a new invoice's items
    "analytic_line_ids",
    "discount_date",
    "discount_amount_currency",
    "discount_balance",
    "full_reconcile_id",
    "matched_credit_ids",
    "matched_debit_ids",
    "matching_number",
    "reconcile_model_id",
    "payment_id",
    "statement_line_id",
    "statement_id",
    "is_imported",
    "is_downpayment",
    "sale_line_ids",
    "q2c_usage_event_ids",
}
# Stored computed fields of the invoice that posting (or its journal items) sets, written by
# the bulk path, and those that neither change (computed when the invoice is created).
BULK_MOVE_FIELDS = frozenset(
    {
        "state",
        "posted_before",
        "name",
        "sequence_prefix",
        "sequence_number",
        "made_sequence_gap",
        "payment_reference",
        "payment_state",
        "amount_untaxed",
        "amount_tax",
        "amount_total",
        "amount_residual",
        "amount_untaxed_signed",
        "amount_untaxed_in_currency_signed",
        "amount_tax_signed",
        "amount_total_signed",
        "amount_total_in_currency_signed",
        "amount_residual_signed",
        "invoice_date_due",
        # not depending on the journal items nor on posting (an invoice's)
        "always_tax_exigible",
        "auto_post_until",
        "commercial_partner_id",
        "company_id",
        "currency_id",
        "date",
        "delivery_date",
        "fiscal_position_id",
        "incoterm_location",
        "invoice_currency_rate",
        "invoice_partner_display_name",
        "invoice_payment_term_id",
        "invoice_user_id",
        "is_storno",
        "journal_id",
        "narration",
        "partner_bank_id",
        "partner_shipping_id",
        "preferred_payment_method_line_id",
        "team_id",
    }
)
LINE_SEQUENCES = {"tax": 10000, "rounding": 11000, "payment_term": 12000}


class Q2cBillingRun(models.Model):
    """Billing runs at volume: the invoices of a batch whose journal items the run computes
    (``_q2c_complete_journal_items``) are created by the ORM without journal items, then their
    items are inserted and the invoices posted in a few statements, with the values Odoo's
    invoice and posting would give them (a test compares every stored column with invoices
    made through the ORM). Odoo's own helpers give the numbers (``sequence.mixin``: the
    journal's sequence locked as posting locks it) and the payment references; constraints of
    the items and invoices are checked on the created records. Any invoice or configuration the
    bulk path does not know goes through the ORM (``_q2c_bulk_ready``)."""

    _inherit = "q2c.billing.run"

    # ------------------------------------------------------------------
    # When
    # ------------------------------------------------------------------

    @api.model
    def _q2c_bulk_enabled(self):
        """Kill switch: system parameter ``q2c_billing.bulk_post`` set to ``0``; the context key
        ``q2c_no_bulk`` (tests comparing both paths)."""
        if self.env.context.get("q2c_no_bulk"):
            return False
        value = self.env["ir.config_parameter"].sudo().get_param("q2c_billing.bulk_post", "1")
        return value.strip().lower() not in ("0", "false", "no", "")

    @api.model
    def _q2c_bulk_methods_known(self):
        """Whether only known modules override the invoice methods the bulk path reproduces."""
        for model, methods in (
            ("account.move", BULK_MOVE_METHODS),
            ("account.move.line", BULK_LINE_METHODS),
        ):
            for cls in type(self.env[model]).__mro__:
                module = getattr(cls, "_module", None)
                if not module or module in BULK_KNOWN_MODULES:
                    continue
                if any(method in vars(cls) for method in methods):
                    return False
        return True

    @api.model
    def _q2c_bulk_ready(self, company, journal, day):
        """Whether the invoices of ``company`` dated ``day`` in ``journal`` can take the bulk
        path: posted by setting, not dated in the future (Odoo posts those on their date), in
        an active journal without hash chain, no lock date moving their accounting date, no
        storno accounting, and no other module changing how invoices are posted."""
        return (
            self._q2c_bulk_enabled()
            and company.q2c_invoice_post
            and day <= fields.Date.context_today(self)
            and journal.active
            and not journal.restrict_mode_hash_table
            and not company.account_storno
            and not company._get_violated_lock_dates(day, True, journal)
            and self._q2c_bulk_methods_known()
        )

    @api.model
    def _q2c_bulk_item_ready(self, vals):
        """Whether the invoice ``vals`` (with all its journal items) can take the bulk path."""
        currency = self.env["res.currency"].browse(vals["currency_id"])
        if not currency.active:
            return False
        items = [command[2] for command in vals["line_ids"]]
        if any(set(item) - BULK_ITEM_KEYS for item in items):
            return False
        if any(item.get("analytic_distribution") for item in items):
            return False
        accounts = self.env["account.account"].browse({item["account_id"] for item in items})
        if any(accounts.mapped("deprecated")):
            return False
        total = sum(
            item["amount_currency"] for item in items if item["display_type"] != "payment_term"
        )
        # A zero invoice is paid on posting (Odoo's paid hook): the ORM posts it.
        return not currency.is_zero(total)

    # ------------------------------------------------------------------
    # How
    # ------------------------------------------------------------------

    def _q2c_bulk_create_invoices(self, Move, company, journal, entries):
        """Create and post the invoices ``entries`` = ``[(group, vals, product_totals)]`` (vals
        with all their journal items, ``product_totals`` the untaxed and taxed totals of each
        product item). Returns the invoices, in the order of ``entries``."""
        headers = []
        for _group, vals, _totals in entries:
            header = {key: value for key, value in vals.items() if key != "line_ids"}
            dues = [
                command[2]["date_maturity"]
                for command in vals["line_ids"]
                if command[2]["display_type"] == "payment_term"
            ]
            header["invoice_date_due"] = max(dues)
            headers.append(header)
        moves = Move.with_context(skip_invoice_sync=True, skip_invoice_line_sync=True).create(
            headers
        )
        self.env.flush_all()
        # Posted before numbering: the number given first locks the journal's sequence through
        # the unique index on posted numbers (sequence.mixin._locked_increment).
        self.env.cr.execute(
            SQL(
                "UPDATE account_move SET state = 'posted', posted_before = TRUE WHERE id IN %s",
                tuple(moves.ids),
            )
        )
        numbers = self._q2c_bulk_numbers(moves)
        self._q2c_bulk_write_numbers(moves, numbers)
        references = self._q2c_bulk_payment_references(moves)
        lines = self._q2c_bulk_insert_items(moves, entries, numbers, references)
        self._q2c_bulk_write_totals(moves, entries, references)
        # As posting: the checks run below must not flag the invoices as modified by hand.
        self._q2c_bulk_after_post(
            moves.with_context(skip_is_manually_modified=True),
            lines.with_context(skip_is_manually_modified=True),
        )
        return moves

    def _q2c_bulk_numbers(self, moves):
        """``{move_id: (name, prefix, number)}``: the journal numbers of ``moves`` (posted in the
        database, not in the cache), in the order Odoo numbers them, from Odoo's sequence
        helpers: the last number read once per journal, type and date, the sequence locked by
        the first number given (the next ones come from the transaction's sequence cache)."""
        numbers = {}
        formats = {}
        for move in moves.sorted(lambda m: (m.date, m.ref or "", m.id)):
            refund = move.journal_id.refund_sequence and move.move_type in (
                "out_refund",
                "in_refund",
            )
            key = (move.journal_id.id, move.date, refund)
            if key not in formats:
                formats[key] = move._get_next_sequence_format()
            format_string, format_values = formats[key]
            name = move._locked_increment(format_string, dict(format_values))
            regex = move._make_regex_non_capturing(
                move._sequence_fixed_regex.replace(r"?P<seq>", "")
            )
            matching = re.match(regex, name)
            numbers[move.id] = (name, name[: matching.start(1)], int(matching.group(1) or 0))
        return numbers

    def _q2c_bulk_write_numbers(self, moves, numbers):
        """Write the numbers and the *sequence gap* flags (as Odoo computes them: a number is a
        gap when the previous one does not exist; a number filling a gap clears the next
        invoice's flag)."""
        Move = self.env["account.move"].sudo()
        by_sequence = defaultdict(set)
        journal_of = {move.id: move.journal_id.id for move in moves}
        for move_id, (__, prefix, number) in numbers.items():
            by_sequence[(journal_of[move_id], prefix)].add(number)
        existing = {}
        for (journal_id, prefix), batch in by_sequence.items():
            existing[(journal_id, prefix)] = set(batch) | set(
                Move.search(
                    [
                        ("journal_id", "=", journal_id),
                        ("sequence_prefix", "=", prefix),
                        ("sequence_number", ">=", min(batch) - 1),
                        ("sequence_number", "<=", max(batch) - 1),
                        ("id", "not in", moves.ids),
                    ]
                ).mapped("sequence_number")
            )
        rows = [
            SQL(
                "(%s, %s, %s, %s, %s)",
                move_id,
                name,
                prefix,
                number,
                number > 1 and (number - 1) not in existing[(journal_of[move_id], prefix)],
            )
            for move_id, (name, prefix, number) in numbers.items()
        ]
        self.env.cr.execute(
            SQL(
                """UPDATE account_move AS m
                      SET name = v.name, sequence_prefix = v.prefix, sequence_number = v.number,
                          made_sequence_gap = v.gap
                     FROM (VALUES %s) AS v(id, name, prefix, number, gap)
                    WHERE m.id = v.id""",
                SQL(", ").join(rows),
            )
        )
        moves.invalidate_recordset(
            ["state", "posted_before", "name", "sequence_prefix", "sequence_number"]
        )
        for (journal_id, prefix), batch in by_sequence.items():
            following = Move.search(
                [
                    ("journal_id", "=", journal_id),
                    ("sequence_prefix", "=", prefix),
                    ("sequence_number", "in", [number + 1 for number in batch]),
                    ("id", "not in", moves.ids),
                    ("made_sequence_gap", "=", True),
                ]
            )
            if following:
                following.made_sequence_gap = False

    def _q2c_bulk_payment_references(self, moves):
        """``{move_id: reference}``: what posting gives an invoice without payment reference
        (Odoo's ``_get_invoice_computed_reference``, from the journal's settings)."""
        return {
            move.id: move._get_invoice_computed_reference()
            if move.move_type == "out_invoice" and not move.payment_reference
            else move.payment_reference
            for move in moves
        }

    def _q2c_bulk_insert_items(self, moves, entries, numbers, references):
        """Insert the journal items of ``moves`` with every stored column as the invoice gives
        them, their taxes and tax tags; returns the items."""
        Line = self.env["account.move.line"]
        fields_ = Line._fields
        now = self.env.cr.now()
        uid = self.env.uid
        digits = {
            name: fields_[name].get_digits(self.env)
            for name in ("quantity", "price_unit", "discount")
        }
        Currency = self.env["res.currency"]
        Account = self.env["account.account"]
        Rep = self.env["account.tax.repartition.line"]
        defaults = self._q2c_bulk_line_defaults()
        rows, taxes, tags, terms_to_name = [], [], [], []
        for move, (__, vals, product_totals) in zip(moves, entries, strict=True):
            name = numbers[move.id][0]
            reference = references[move.id]
            company = move.company_id
            company_currency = company.currency_id
            currency = Currency.browse(vals["currency_id"])
            inbound = move.is_inbound()
            storno = move.is_storno
            term_count = len(move.invoice_payment_term_id.line_ids)
            product_index = 0
            for command in vals["line_ids"]:
                item = command[2]
                display_type = item["display_type"]
                account = Account.browse(item["account_id"])
                balance = company_currency.round(item["balance"])
                amount_currency = currency.round(item["amount_currency"])
                if storno:
                    debit, credit = (
                        (balance if balance < 0 else 0.0),
                        (-balance if balance > 0 else 0.0),
                    )
                else:
                    debit, credit = (
                        (balance if balance > 0 else 0.0),
                        (-balance if balance < 0 else 0.0),
                    )
                if account.reconcile or account.account_type in (
                    "asset_cash",
                    "liability_credit_card",
                ):
                    residual, residual_currency = balance, amount_currency
                    reconciled = company_currency.is_zero(residual) and currency.is_zero(
                        residual_currency
                    )
                else:
                    residual = residual_currency = 0.0
                    reconciled = False
                tax_ids = item["tax_ids"][0][2] if item.get("tax_ids") else []
                tag_ids = item["tax_tag_ids"][0][2] if item.get("tax_tag_ids") else []
                repartition = Rep.browse(item.get("tax_repartition_line_id"))
                if not repartition and not tax_ids:
                    tag_invert = bool(tag_ids) and inbound
                else:
                    tag_invert = inbound
                if display_type == "product":
                    subtotal, total = product_totals[product_index]
                    product_index += 1
                    subtotal, total = currency.round(subtotal), currency.round(total)
                else:
                    subtotal = total = 0.0
                line_name = item.get("name")
                if display_type == "payment_term":
                    if move.ref and reference and reference != move.ref:
                        line_name = f"{move.ref} - {reference}"
                    else:
                        line_name = reference or None
                    if term_count > 1:
                        # "... installment #n" (translated by account): Odoo's compute.
                        terms_to_name.append(len(rows))
                row = {
                    **defaults,
                    "move_id": move.id,
                    "journal_id": move.journal_id.id,
                    "company_id": company.id,
                    "company_currency_id": company_currency.id,
                    "date": move.date,
                    "invoice_date": move.invoice_date,
                    "move_name": name,
                    "parent_state": "posted",
                    "ref": move.ref or None,
                    "sequence": LINE_SEQUENCES.get(display_type, 100),
                    "display_type": display_type,
                    "account_id": account.id,
                    "currency_id": currency.id,
                    "partner_id": item.get("partner_id") or None,
                    "product_id": item.get("product_id") or None,
                    "product_uom_id": item.get("product_uom_id") or None,
                    "name": line_name or None,
                    "quantity": self._q2c_bulk_float(item.get("quantity"), digits["quantity"])
                    if display_type == "product"
                    else 0.0,
                    "price_unit": self._q2c_bulk_float(
                        item.get("price_unit"), digits["price_unit"]
                    ),
                    "discount": self._q2c_bulk_float(item.get("discount"), digits["discount"]),
                    "balance": balance,
                    "amount_currency": amount_currency,
                    "debit": debit,
                    "credit": credit,
                    "amount_residual": residual,
                    "amount_residual_currency": residual_currency,
                    "reconciled": reconciled,
                    "price_subtotal": subtotal,
                    "price_total": total,
                    "tax_base_amount": company_currency.round(item["tax_base_amount"])
                    if "tax_base_amount" in item
                    else None,
                    "tax_repartition_line_id": repartition.id or None,
                    "tax_line_id": repartition.tax_id.id or None,
                    "tax_group_id": repartition.tax_id.tax_group_id.id or None,
                    "group_tax_id": item.get("group_tax_id") or None,
                    "tax_tag_invert": tag_invert,
                    "date_maturity": item.get("date_maturity") or None,
                    "analytic_distribution": None,
                    "q2c_subscription_id": item.get("q2c_subscription_id") or None,
                    "q2c_subscription_line_id": item.get("q2c_subscription_line_id") or None,
                    "q2c_period_start": item.get("q2c_period_start") or None,
                    "q2c_period_end": item.get("q2c_period_end") or None,
                    "q2c_usage_metric_id": item.get("q2c_usage_metric_id") or None,
                    "q2c_usage_late": item["q2c_usage_late"] if "q2c_usage_late" in item else None,
                    "create_uid": uid,
                    "write_uid": uid,
                    "create_date": now,
                    "write_date": now,
                }
                rows.append(row)
                taxes.append(tax_ids)
                tags.append(tag_ids)
        columns = list(rows[0])
        template = "(" + ", ".join(["%s"] * len(columns)) + ")"
        query = "INSERT INTO account_move_line ({}) VALUES {} RETURNING id".format(
            ", ".join(f'"{column}"' for column in columns),
            ", ".join([template] * len(rows)),
        )
        params = [row[column] for row in rows for column in columns]
        self.env.cr.execute(query, params)  # pylint: disable=sql-injection
        line_ids = [row_id for (row_id,) in self.env.cr.fetchall()]
        for field_name, values in (("tax_ids", taxes), ("tax_tag_ids", tags)):
            field = fields_[field_name]
            pairs = [
                (line_id, value_id)
                for line_id, value_ids in zip(line_ids, values, strict=True)
                for value_id in value_ids
            ]
            if pairs:
                self.env.cr.execute(
                    SQL(
                        "INSERT INTO %s (%s, %s) VALUES %s ON CONFLICT DO NOTHING",
                        SQL.identifier(field.relation),
                        SQL.identifier(field.column1),
                        SQL.identifier(field.column2),
                        SQL(", ").join(SQL("(%s, %s)", *pair) for pair in pairs),
                    )
                )
        lines = Line.browse(line_ids)
        if terms_to_name:
            self.env.add_to_compute(
                fields_["name"], Line.browse(line_ids[i] for i in terms_to_name)
            )
        return lines

    @api.model
    def _q2c_bulk_float(self, value, digits):
        value = float(value or 0.0)
        return float_round(value, precision_digits=digits[1]) if digits else value

    @api.model
    def _q2c_bulk_line_defaults(self):
        """Column values of the journal items' stored fields the bulk path does not know: their
        defaults (computed ones are computed by the ORM after the insert)."""
        Line = self.env["account.move.line"]
        unknown = [
            name
            for name, field in Line._fields.items()
            if field.store
            and field.column_type
            and not field.compute
            and name not in BULK_LINE_FIELDS
        ]
        defaults = Line.default_get(unknown) if unknown else {}
        return {
            name: Line._fields[name].convert_to_column_insert(defaults[name], Line.browse())
            if name in defaults
            else None
            for name in unknown
        }

    def _q2c_bulk_write_totals(self, moves, entries, references):
        """The invoices' totals, payment state and payment reference, as Odoo's
        ``_compute_amount``, ``_compute_payment_state`` and ``_compute_payment_reference`` give
        them for a posted invoice without payment."""
        rows = []
        for move, (__, vals, ___) in zip(moves, entries, strict=True):
            currency = self.env["res.currency"].browse(vals["currency_id"])
            company_currency = move.company_id.currency_id
            sums = defaultdict(float)
            for command in vals["line_ids"]:
                item = command[2]
                kind = item["display_type"]
                balance = company_currency.round(item["balance"])
                amount_currency = currency.round(item["amount_currency"])
                if kind == "tax":
                    sums["tax"] += balance
                    sums["tax_currency"] += amount_currency
                elif kind == "product":
                    sums["untaxed"] += balance
                    sums["untaxed_currency"] += amount_currency
                elif kind == "payment_term":
                    account = self.env["account.account"].browse(item["account_id"])
                    if account.reconcile or account.account_type in (
                        "asset_cash",
                        "liability_credit_card",
                    ):
                        sums["residual"] += balance
                        sums["residual_currency"] += amount_currency
                if kind in ("tax", "product"):
                    sums["total"] += balance
                    sums["total_currency"] += amount_currency
            sign = move.direction_sign
            amount_total = currency.round(sign * sums["total_currency"])
            rows.append(
                SQL(
                    "(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                    move.id,
                    references[move.id] or None,
                    currency.round(sign * sums["untaxed_currency"]),
                    currency.round(sign * sums["tax_currency"]),
                    amount_total,
                    currency.round(-sign * sums["residual_currency"]),
                    company_currency.round(-sums["untaxed"]),
                    currency.round(-sums["untaxed_currency"]),
                    company_currency.round(-sums["tax"]),
                    company_currency.round(-sums["total"]),
                    currency.round(-(sign * amount_total)),
                    company_currency.round(sums["residual"]),
                )
            )
        self.env.cr.execute(
            SQL(
                """UPDATE account_move AS m
                      SET amount_untaxed = v.untaxed, amount_tax = v.tax, amount_total = v.total,
                          amount_residual = v.residual, amount_untaxed_signed = v.untaxed_signed,
                          amount_untaxed_in_currency_signed = v.untaxed_currency_signed,
                          amount_tax_signed = v.tax_signed, amount_total_signed = v.total_signed,
                          amount_total_in_currency_signed = v.total_currency_signed,
                          amount_residual_signed = v.residual_signed,
                          payment_state = 'not_paid', payment_reference = v.reference
                     FROM (VALUES %s) AS v(id, reference, untaxed, tax, total, residual, untaxed_signed,
                          untaxed_currency_signed, tax_signed, total_signed, total_currency_signed,
                          residual_signed)
                    WHERE m.id = v.id""",
                SQL(", ").join(rows),
            )
        )

    def _q2c_bulk_after_post(self, moves, lines):
        """What posting does besides numbering: the ORM computes the stored fields of other
        modules, the constraints of the items and invoices are checked (balanced, lock dates,
        accounts allowed in the journal...), usage events link to their lines, customers follow
        their invoice and rise in rank, automatic payments are scheduled."""
        Move = self.env["account.move"]
        Line = self.env["account.move.line"]
        Move.invalidate_model()
        Line.invalidate_model()
        for model, records, known in (
            (Move, moves, BULK_MOVE_FIELDS),
            (Line, lines, BULK_LINE_FIELDS),
        ):
            for name, field in model._fields.items():
                if field.store and field.compute and name not in known:
                    self.env.add_to_compute(field, records)
        self.env.flush_all()
        if unbalanced := moves._get_unbalanced_moves({"records": moves}):
            raise UserError(
                _(
                    "The invoice %(name)s is not balanced.",
                    name=moves.browse(unbalanced[0][0]).name,
                )
            )
        lines._validate_fields(
            [name for name, field in Line._fields.items() if field.store and field.column_type]
        )
        moves._validate_fields(["state", "posted_before", "name", "line_ids"])
        moves._check_fiscal_lock_dates()
        lines._check_tax_lock_date()
        usage_lines = lines.filtered("q2c_usage_metric_id")
        if usage_lines:
            self.env["q2c.usage.event"].sudo()._q2c_link_invoice_lines(usage_lines)
        moves._q2c_subscribe_customers()
        moves._q2c_increase_customer_rank()
        moves._q2c_schedule_autopay()
