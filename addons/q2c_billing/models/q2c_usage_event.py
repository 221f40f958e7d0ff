import csv
import hashlib
import io
import json
import math
from collections import namedtuple
from datetime import date, datetime, time, timedelta, timezone
from operator import itemgetter

import psycopg2.errors

from odoo import _, api, fields, models
from odoo.exceptions import UserError, ValidationError
from odoo.tools import SQL, create_index
from odoo.tools.sql import drop_constraint, drop_index

from ..tools.batch import cyclic_gc_paused

# Most events one ``ingest`` call takes (API.md).
MAX_INGEST_BATCH = 10000
# Keys an ingested event may have (API.md); anything else is rejected (a typo such as "qty"
# would otherwise bill the default quantity of 1).
INGEST_KEYS = frozenset(
    {
        "transaction_id",
        "subscription",
        "subscription_id",
        "metric",
        "quantity",
        "timestamp",
        "properties",
    }
)
TRANSACTION_ID_SIZE = 255
# Ingested rows go through this temporary table (COPY), then one INSERT ... SELECT.
STAGING_TABLE = "q2c_usage_event_staging"
STAGING_COLUMNS = (
    ("n", "int4"),  # the item's index in the call
    ("subscription_id", "int4"),
    ("metric_id", "int4"),
    ("transaction_id", "varchar"),
    ("quantity", "numeric"),
    ("timestamp", "timestamp"),
    ("properties", "jsonb"),
    ("state", "varchar"),
    ("unbillable_reason", "varchar"),
    ("payload_hash", "varchar"),
)
ONE_DAY = timedelta(days=1)
# Rows are stored in key order (subscription id, then transaction id: Python's string order is
# the code point order, that of COLLATE "C").
_row_key = itemgetter(1, 3)
# Size of the chunks psycopg2 reads from a COPY buffer.
COPY_CHUNK = 1 << 20

# What validation reads of a subscription and of a metric: plain values, no ORM access per
# event (10,000 events a call).
SubInfo = namedtuple("SubInfo", "id name state company_id")
MetricInfo = namedtuple("MetricInfo", "id code")
# Canonical JSON of the properties (the payload digest compares them whatever their key order).
_JSON = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
# How _JSON writes a string (ensure_ascii=False: the standard library's C function).
_json_string = json.encoder.encode_basestring


def _properties_json(properties):
    """``_JSON.encode(properties)`` (a non-empty dict), written directly for the common shape
    of one string key and one string value (``{"user":"alice"}``): the same text."""
    if len(properties) == 1:
        ((key, value),) = properties.items()
        if type(key) is str and type(value) is str:
            return "{" + _json_string(key) + ":" + _json_string(value) + "}"
    return _JSON.encode(properties)


def _sent_values(items, key):
    """The distinct values of ``key`` in the dicts ``items``, all of them (one pass) unless one
    cannot be hashed: then the strings and integers only, what the lookups use (the other items
    are rejected with their reason by the validation)."""
    try:
        return {item.get(key) for item in items}
    except TypeError:
        return {value for item in items if isinstance(value := item.get(key), (str, int))}


def _utc_naive(value):
    """A naive UTC ``datetime`` from an aware or naive (taken as UTC) datetime."""
    if value.tzinfo is not None:
        value = value.astimezone(timezone.utc).replace(tzinfo=None)
    return value


def _payload_hash(metric_id, quantity, timestamp, properties_json):
    """Digest of an event's payload (``timestamp`` None when not sent: a retried event
    without a timestamp is a duplicate whatever the time)."""
    return hashlib.blake2b(
        f"{metric_id}|{quantity!r}|{timestamp.isoformat() if timestamp else ''}|"
        f"{properties_json or ''}".encode(),
        digest_size=16,
    ).hexdigest()


def _transaction_id(item):
    """The transaction id of an ingested item for the report ("" when not a string)."""
    value = item.get("transaction_id") if isinstance(item, dict) else None
    return value if isinstance(value, str) else ""


def day_start(day):
    """First instant (naive UTC) of ``day``: periods of dates are cut at midnight UTC."""
    return datetime.combine(day, time.min)


class Many2oneWithoutForeignKey(fields.Many2one):
    """A Many2one whose column has no foreign key in PostgreSQL (an existing one is dropped,
    with its ``ir.model.constraint`` record, when the module is installed or updated).

    For the subscription and the metric of usage events only: with tens of millions of rows
    arriving by thousands, the per-row trigger query of each foreign key cost 15 to 20 us of
    PostgreSQL CPU per ingested event, as much as storing the row. Odoo's own high-volume
    references (``mail.message.res_id``, ``ir.attachment.res_id``) have no foreign key either.
    Integrity is kept by the application: ``ingest`` and ``create`` lock the subscriptions and
    metrics they reference (``FOR KEY SHARE``, the lock a foreign key check takes) and never
    store an unknown one, the fields cannot be written afterwards, and deleting a subscription
    or a metric that events reference is refused (``ondelete="restrict"``, enforced by
    ``q2c.subscription`` and ``q2c.usage.metric``, see ``_q2c_check_no_usage_events``)."""

    def update_db_foreign_key(self, model, column):
        cr = model.env.cr
        cr.execute(
            SQL(
                """
            SELECT fk.conname
              FROM pg_constraint fk
              JOIN pg_class c ON c.oid = fk.conrelid
              JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = fk.conkey[1]
             WHERE fk.contype = 'f' AND c.relname = %s AND a.attname = %s
            """,
                model._table,
                self.name,
            )
        )
        for (name,) in cr.fetchall():
            drop_constraint(cr, model._table, name)
            cr.execute(SQL("DELETE FROM ir_model_constraint WHERE name = %s AND type = 'f'", name))


class Q2cUsageEvent(models.Model):
    """One metered usage event of a subscription (an API call, a GB stored at a time...).

    Events arrive in bulk through ``ingest`` (API.md): validated in Python, then stored with
    one multi-row ``INSERT ... ON CONFLICT DO NOTHING``; idempotent by the unique key
    (subscription, transaction id), a known transaction id with another payload being a
    conflict. Billing aggregates the events of a period per metric in SQL
    (``_q2c_aggregate``) and links the billed events to their invoice line.

    States: ``pending`` (not billed yet), ``billed`` (``invoice_line_id`` says where),
    ``unbillable`` (``unbillable_reason`` says why: no usage plan for the metric, outside any
    billed period...).

    Built for tens of millions of rows: no create/write user columns (``received_at`` says
    when an event arrived), the company is the subscription's (not stored), and only the
    indexes billing needs, as each one costs on every ingested row.
    """

    _name = "q2c.usage.event"
    _description = "Usage Event"
    _order = "id desc"
    _rec_name = "transaction_id"
    _check_company_auto = True
    _log_access = False

    # The unique index (subscription_id, transaction_id) and the index (subscription_id,
    # metric_id, timestamp) both lead with subscription_id: no separate index on it.
    # No foreign key on these two (see Many2oneWithoutForeignKey): the application enforces
    # them, "restrict" included.
    subscription_id = Many2oneWithoutForeignKey(
        "q2c.subscription",
        string="Subscription",
        required=True,
        ondelete="restrict",
        check_company=True,
        readonly=True,
    )
    metric_id = Many2oneWithoutForeignKey(
        "q2c.usage.metric",
        string="Metric",
        required=True,
        ondelete="restrict",
        check_company=True,
        readonly=True,
    )
    transaction_id = fields.Char(
        string="Transaction ID",
        required=True,
        size=TRANSACTION_ID_SIZE,
        readonly=True,
        help="Identifier given by the sender; an event is stored once per subscription and "
        "transaction id.",
    )
    quantity = fields.Float(digits=(16, 6), default=1.0, readonly=True)
    timestamp = fields.Datetime(
        required=True, default=fields.Datetime.now, readonly=True, help="When it happened (UTC)."
    )
    received_at = fields.Datetime(
        string="Received",
        default=fields.Datetime.now,
        readonly=True,
        help="When the event was stored.",
    )
    properties = fields.Json(string="Raw Properties", readonly=True)
    properties_text = fields.Char(
        string="Properties",
        compute="_compute_properties_text",
        inverse="_inverse_properties_text",
        help='The event\'s properties as a JSON object, e.g. {"user": "alice"}.',
    )
    state = fields.Selection(
        selection=[
            ("pending", "Pending"),
            ("billed", "Billed"),
            ("unbillable", "Unbillable"),
        ],
        default="pending",
        required=True,
        readonly=True,
    )
    unbillable_reason = fields.Char(readonly=True)
    invoice_line_id = fields.Many2one(
        "account.move.line",
        string="Invoice Line",
        index="btree_not_null",
        ondelete="set null",
        readonly=True,
        copy=False,
    )
    move_id = fields.Many2one(related="invoice_line_id.move_id", string="Invoice")
    company_id = fields.Many2one(related="subscription_id.company_id", string="Company")
    partner_id = fields.Many2one(related="subscription_id.partner_id", string="Customer")
    payload_hash = fields.Char(
        readonly=True,
        help="Digest of the payload as sent (metric, quantity, timestamp, properties): a "
        "transaction id sent again with another payload is a conflict.",
    )

    _sql_constraints = [
        (
            "subscription_transaction_uniq",
            "unique(subscription_id, transaction_id)",
            "A usage event with this transaction ID is already stored for this subscription.",
        ),
        ("quantity_positive", "CHECK(quantity >= 0)", "A usage quantity cannot be negative."),
    ]

    def init(self):
        res = super().init()
        # One index serves billing: aggregation per subscription, state, metric and period,
        # the pending events to link or sweep, and the late ones (pending events of a
        # subscription dated before a period: only its pending entries are read, whatever
        # the size of the history). Each index costs on every ingested row: this one replaced
        # (subscription, metric, timestamp) and a partial index of the pending events.
        create_index(
            self.env.cr,
            "q2c_usage_event_subscription_state_metric_timestamp_idx",
            self._table,
            ["subscription_id", "state", "metric_id", "timestamp"],
        )
        for name in (
            "q2c_usage_event_subscription_metric_timestamp_idx",
            "q2c_usage_event_pending_idx",
        ):
            drop_index(self.env.cr, name, self._table)
        return res

    # ------------------------------------------------------------------
    # Computes
    # ------------------------------------------------------------------

    @api.depends("properties")
    def _compute_properties_text(self):
        for event in self:
            event.properties_text = (
                json.dumps(event.properties, sort_keys=True, ensure_ascii=False)
                if event.properties
                else False
            )

    def _inverse_properties_text(self):
        # Only reached on creation (create() parses it): events are not edited afterwards.
        for event in self:
            event.properties = self._q2c_parse_properties_text(event.properties_text)

    # ------------------------------------------------------------------
    # CRUD
    # ------------------------------------------------------------------

    @api.model_create_multi
    def create(self, vals_list):
        """Create events from the user interface or Odoo's CSV import: the same checks as
        ``ingest`` (a bad row raises a ValidationError naming the row and the field)."""
        sub_ids = [vals["subscription_id"] for vals in vals_list if vals.get("subscription_id")]
        metric_ids = [vals["metric_id"] for vals in vals_list if vals.get("metric_id")]
        # No foreign key on these columns: lock what the rows reference, as one would.
        self._q2c_lock_references("q2c.subscription", sub_ids)
        self._q2c_lock_references("q2c.usage.metric", metric_ids)
        subs = self._q2c_sub_infos(self.env["q2c.subscription"].search([("id", "in", sub_ids)]))
        metrics = {
            metric.id: MetricInfo(metric.id, metric.code)
            for metric in self.env["q2c.usage.metric"].browse(metric_ids).exists()
        }
        usage_metrics = self._q2c_usage_metrics_by_subscription(list(subs))
        prepared = []
        for index, vals in enumerate(vals_list):
            vals = dict(vals)
            if "properties_text" in vals:
                text = vals.pop("properties_text")
                try:
                    vals["properties"] = self._q2c_parse_properties_text(text)
                except ValidationError as error:
                    raise ValidationError(
                        _("Usage event %(row)s: %(error)s", row=index + 1, error=error.args[0])
                    ) from None
            sub = subs.get(vals.get("subscription_id"))
            if vals.get("subscription_id") and not sub:
                raise ValidationError(
                    _(
                        "Usage event %(row)s: subscription_id: unknown subscription id %(value)s.",
                        row=index + 1,
                        value=vals["subscription_id"],
                    )
                )
            item = {
                "transaction_id": vals.get("transaction_id"),
                "quantity": vals.get("quantity", 1.0),
                "properties": vals.get("properties") or None,
            }
            if vals.get("timestamp"):
                item["timestamp"] = vals["timestamp"]
            row, error = self._q2c_check_event(
                item, sub, metrics.get(vals.get("metric_id")), usage_metrics
            )
            if error:
                raise ValidationError(
                    _("Usage event %(row)s: %(error)s", row=index + 1, error=error)
                )
            vals.update(
                subscription_id=row["subscription_id"],
                metric_id=row["metric_id"],
                transaction_id=row["transaction_id"],
                quantity=row["quantity"],
                timestamp=row["timestamp"],
                properties=row["properties"],
                payload_hash=row["payload_hash"],
                state=row["state"],
                unbillable_reason=row["unbillable_reason"],
                received_at=fields.Datetime.now(),
            )
            prepared.append(vals)
        return super().create(prepared)

    def write(self, vals):
        frozen = {
            "subscription_id",
            "metric_id",
            "transaction_id",
            "quantity",
            "timestamp",
            "properties",
            "properties_text",
            "payload_hash",
            "received_at",
        }
        if frozen & set(vals):
            raise UserError(
                _(
                    "Usage events cannot be edited (fields %(fields)s): send a correcting"
                    " event with a new transaction ID instead.",
                    fields=", ".join(sorted(frozen & set(vals))),
                )
            )
        return super().write(vals)

    @api.ondelete(at_uninstall=False)
    def _unlink_except_billed(self):
        billed = self.filtered(lambda event: event.state == "billed")
        if billed:
            raise UserError(
                _(
                    "Billed usage events cannot be deleted (%(events)s): they justify an"
                    " invoice line.",
                    events=", ".join(billed[:5].mapped("transaction_id")),
                )
            )

    # ------------------------------------------------------------------
    # Actions
    # ------------------------------------------------------------------

    def action_retry_billing(self):
        """Unbillable events back to pending (after the missing usage plan is added): they are
        checked again now and billed by the next invoice, as late usage when their period is
        invoiced already."""
        self.check_access("write")
        events = self.filtered(lambda event: event.state == "unbillable")
        if not events:
            return True
        subs = self._q2c_sub_infos(events.subscription_id)
        usage_metrics = self._q2c_usage_metrics_by_subscription(list(subs))
        for (sub, metric), group in events.grouped(
            lambda event: (event.subscription_id, event.metric_id)
        ).items():
            reason = self._q2c_unbillable_reason(
                subs[sub.id], MetricInfo(metric.id, metric.code), usage_metrics
            )
            group.write(
                {"state": "unbillable" if reason else "pending", "unbillable_reason": reason}
            )
        return True

    def action_view_invoice(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "res_model": "account.move",
            "res_id": self.move_id.id,
            "views": [(False, "form")],
        }

    # ------------------------------------------------------------------
    # Public API (API.md)
    # ------------------------------------------------------------------

    @api.model
    def ingest(self, events):
        """Store a batch of usage events (at most 10,000), idempotently.

        Each event is a dict: ``transaction_id`` (str, required), ``subscription`` (the
        subscription's reference) or ``subscription_id`` (int), ``metric`` (metric code),
        ``quantity`` (number >= 0, default 1), ``timestamp`` (ISO 8601, UTC when no offset is
        given, default now), ``properties`` (dict, optional).

        Bad items are rejected with their reason, the others are stored. A transaction id
        already stored for the subscription with the same payload is a duplicate; with
        another payload, the item is rejected with the error ``conflict`` (the same within
        one call: the first occurrence wins).

        :return: ``{"accepted": int, "duplicates": int, "rejected": [{"index": int,
            "transaction_id": str, "error": str}]}``
        :raise UserError: when ``events`` is not a list or holds more than 10,000 events.
        """
        self.check_access("create")
        if not isinstance(events, (list, tuple)):
            raise UserError(
                _(
                    "The argument 'events' must be a list of events, got %(type)s.",
                    type=type(events).__name__,
                )
            )
        if len(events) > MAX_INGEST_BATCH:
            raise UserError(
                _(
                    "The argument 'events' holds %(count)s events; send at most %(max)s a call.",
                    count=len(events),
                    max=MAX_INGEST_BATCH,
                )
            )
        report = {"accepted": 0, "duplicates": 0, "rejected": []}
        if not events:
            return report
        rejected = report["rejected"]
        with cyclic_gc_paused():
            rows, repeats = self._q2c_validate_batch(events, rejected)
            inserted, conflicts = self._q2c_insert_rows(rows) if rows else (0, {})
        if rows:
            # Not inserted and not a conflict: stored already with the same payload.
            report["accepted"] = inserted
            report["duplicates"] = len(rows) - inserted - len(conflicts)
            for index, copies in repeats.items():
                if index not in conflicts:
                    report["duplicates"] += len(copies)
            for index, transaction_id in conflicts.items():
                for each in [index, *repeats.get(index, ())]:
                    rejected.append(self._q2c_reject(each, transaction_id, "conflict"))
            # Raw SQL: nothing of these rows may linger in the ORM cache.
            self._q2c_invalidate_usage_cache()
        rejected.sort(key=lambda item: item["index"])
        return report

    # ------------------------------------------------------------------
    # Ingestion helpers
    # ------------------------------------------------------------------

    @api.model
    def _q2c_lock_references(self, model_name, ids):
        """Lock the rows of ``ids`` of ``model_name`` (subscriptions or metrics) that events
        are about to reference, as a foreign key check would (``FOR KEY SHARE``): deleting
        them waits until this transaction ends (then sees its events and is refused)."""
        if ids:
            self.env.execute_query(
                SQL(
                    "SELECT id FROM %s WHERE id = ANY(%s) FOR KEY SHARE",
                    SQL.identifier(self.env[model_name]._table),
                    sorted(set(ids)),
                )
            )

    @api.model
    def _q2c_check_no_usage_events(self, field_name, records):
        """Refuse to delete ``records`` (subscriptions for ``field_name`` ``subscription_id``,
        metrics for ``metric_id``) while usage events reference them: what the foreign key
        (``ondelete="restrict"``) did before the column lost it.

        The records are locked first (``FOR UPDATE``), which waits for the transactions
        storing events of them (they lock them ``FOR KEY SHARE``) and makes later ones wait
        for this one. Their events are then looked up in this transaction (its own events)
        and, when there are none, in a new one: Odoo's transactions are REPEATABLE READ, so
        only a new snapshot sees the events committed by the transactions just waited for."""
        if not records:
            return
        self.flush_model([field_name])
        ids = sorted(records.ids)
        self.env.execute_query(
            SQL(
                "SELECT id FROM %s WHERE id = ANY(%s) FOR UPDATE",
                SQL.identifier(records._table),
                ids,
            )
        )
        query = SQL(
            "SELECT %s FROM q2c_usage_event WHERE %s = ANY(%s) LIMIT 1",
            SQL.identifier(field_name),
            SQL.identifier(field_name),
            ids,
        )
        used = self.env.execute_query(query)
        if not used:
            with self.env.registry.cursor() as cr:
                cr.execute(query)
                used = cr.fetchall()
        if used:
            record = records.browse(used[0][0])
            raise UserError(
                _(
                    "%(record)s cannot be deleted: usage events refer to it.",
                    record=record.display_name,
                )
            )

    @api.model
    def _q2c_reject(self, index, transaction_id, error):
        return {
            "index": index,
            "transaction_id": transaction_id if isinstance(transaction_id, str) else "",
            "error": error,
        }

    @api.model
    def _q2c_sub_infos(self, subs):
        """``{id: SubInfo}`` of subscriptions (read once, in batch)."""
        return {sub.id: SubInfo(sub.id, sub.name, sub.state, sub.company_id.id) for sub in subs}

    @api.model
    def _q2c_validate_batch(self, events, rejected):
        """Validate ``events`` in Python with a constant number of queries whatever their
        count: returns ``(rows, repeats)`` and appends the bad items to ``rejected``.

        ``rows`` are tuples in the order of ``STAGING_COLUMNS`` (the item's index first).
        Duplicates within the batch are resolved here: the first occurrence is kept
        (``repeats`` maps its index to the indexes of identical copies), a different payload
        under the same key is a conflict.

        The common shape of an event (known subscription and metric, string transaction id,
        number quantity, ``YYYY-MM-DDTHH:MM:SS[Z]`` timestamp) is checked inline; anything
        else goes through ``_q2c_check_item``, which names what is wrong."""
        # 1. What to look up: the distinct values sent under each key (one pass each), then
        # those of the right type.
        items = (
            events
            if all(type(item) is dict for item in events)
            else [item for item in events if isinstance(item, dict)]
        )
        refs = {ref.strip() for ref in _sent_values(items, "subscription") if isinstance(ref, str)}
        ids = {
            sub_id
            for sub_id in _sent_values(items, "subscription_id")
            if isinstance(sub_id, int) and not isinstance(sub_id, bool)
        }
        codes = {code.strip() for code in _sent_values(items, "metric") if isinstance(code, str)}
        # 2. Subscriptions of the caller's companies (record rules apply), by reference and id:
        # their values straight from the query (no record per subscription). They are locked
        # as a foreign key check would (FOR KEY SHARE: a concurrent update of the
        # subscription goes on, a deletion waits for this transaction); the events table has
        # no foreign key (see Many2oneWithoutForeignKey).
        by_id = {}
        if refs or ids:
            Subscription = self.env["q2c.subscription"]
            Subscription.flush_model(["name", "state", "company_id"])
            query = Subscription._search(
                [
                    ("company_id", "in", self.env.companies.ids),
                    "|",
                    ("name", "in", list(refs)),
                    ("id", "in", list(ids)),
                ]
            )
            table = Subscription._table
            for row in self.env.execute_query(
                SQL(
                    "%s FOR KEY SHARE OF %s",
                    query.select(
                        *(
                            SQL.identifier(table, name)
                            for name in ("id", "name", "state", "company_id")
                        )
                    ),
                    SQL.identifier(table),
                )
            ):
                by_id[row[0]] = SubInfo(*row)
        by_ref = {}
        for info in by_id.values():
            # A reference shared by subscriptions of two companies is ambiguous (None).
            by_ref[info.name] = None if info.name in by_ref else info
        # 3. Metrics by code per company (a company's own metric before a shared one), locked
        # as the subscriptions.
        metrics = {}
        if codes and by_id:
            company_ids = list({info.company_id for info in by_id.values()})
            Metric = self.env["q2c.usage.metric"]
            Metric.flush_model(["code", "company_id"])
            query = Metric._search(
                [("code", "in", list(codes)), ("company_id", "in", company_ids + [False])]
            )
            table = Metric._table
            rows = self.env.execute_query(
                SQL(
                    "%s FOR KEY SHARE OF %s",
                    query.select(
                        *(SQL.identifier(table, name) for name in ("id", "code", "company_id"))
                    ),
                    SQL.identifier(table),
                )
            )
            for metric_id, code, company_id in sorted(rows, key=lambda row: bool(row[2])):
                metrics[(code, company_id or False)] = MetricInfo(metric_id, code)
        lookups = (by_ref, by_id, metrics, self._q2c_usage_metrics_by_subscription(list(by_id)))

        # 4. The events. ``targets`` caches, per (subscription, subscription_id, metric) as
        # sent, what they resolve to when it is good: (subscription id, metric id, state,
        # unbillable reason).
        targets, resolved = {}, ({}, {})
        now = fields.Datetime.now()
        rows, repeats, seen = [], {}, {}
        check_item = self._q2c_check_item
        # Hot loop (5,000 to 10,000 events a call): names bound locally; the common shape's
        # checks, its timestamp (``YYYY-MM-DDTHH:MM:SS``, optionally ending with ``Z``; any
        # other form goes to _q2c_check_item) and its payload digest (as _payload_hash) inline.
        # The timestamp goes to the COPY as the ISO text that is digested.
        blake2b, encode_json, fromisoformat = (
            hashlib.blake2b,
            _properties_json,
            datetime.fromisoformat,
        )
        inf = math.inf
        for index, item in enumerate(events):
            row = None
            if type(item) is dict and item.keys() <= INGEST_KEYS:
                get = item.get
                ref, sub_id, code = key = (
                    get("subscription"),
                    get("subscription_id"),
                    get("metric"),
                )
                target = False
                if (
                    (ref is None or type(ref) is str)
                    and (sub_id is None or type(sub_id) is int)
                    and type(code) is str
                ):
                    target = targets.get(key)
                    if target is None:
                        target = targets[key] = self._q2c_target(key, lookups, resolved)
                transaction_id = get("transaction_id")
                quantity = get("quantity", 1)
                properties = get("properties")
                raw_timestamp = get("timestamp")
                if raw_timestamp is None:
                    timestamp, timestamp_text = now, ""
                else:
                    timestamp = None
                    if type(raw_timestamp) is str and (
                        len(raw_timestamp) == 19
                        or (len(raw_timestamp) == 20 and raw_timestamp[19] == "Z")
                    ):
                        try:
                            parsed = fromisoformat(raw_timestamp[:19])
                        except ValueError:
                            parsed = None
                        if parsed is not None and parsed.tzinfo is None and parsed.year >= 1000:
                            # The text as sent when it is ISO already (a "T" between date and
                            # time: fromisoformat accepts any character there).
                            timestamp = timestamp_text = (
                                raw_timestamp[:19]
                                if raw_timestamp[10] == "T"
                                else parsed.isoformat()
                            )
                if (
                    target
                    and type(transaction_id) is str
                    and 0 < len(transaction_id) <= TRANSACTION_ID_SIZE
                    and not transaction_id[0].isspace()
                    and not transaction_id[-1].isspace()
                    and "\x00" not in transaction_id
                    and (type(quantity) is int or type(quantity) is float)
                    and 0 <= quantity < inf
                    and timestamp is not None
                    and (properties is None or type(properties) is dict)
                ):
                    properties_json = encode_json(properties) if properties else None
                    if properties_json is None or "\\u0000" not in properties_json:
                        quantity = float(quantity)
                        metric_id = target[1]
                        row = (
                            index,
                            target[0],
                            metric_id,
                            transaction_id,
                            quantity,
                            timestamp,
                            properties_json,
                            target[2],
                            target[3],
                            blake2b(
                                f"{metric_id}|{quantity!r}|{timestamp_text}|"
                                f"{properties_json or ''}".encode(),
                                digest_size=16,
                            ).hexdigest(),
                        )
            if row is None:
                row, error = check_item(index, item, lookups)
                if error:
                    rejected.append(self._q2c_reject(index, _transaction_id(item), error))
                    continue
            key = (row[1], row[3])
            first = seen.get(key)
            if first is None:
                seen[key] = row
                rows.append(row)
            elif first[-1] == row[-1]:
                repeats.setdefault(first[0], []).append(index)
            else:
                rejected.append(self._q2c_reject(index, row[3], "conflict"))
        return rows, repeats

    @api.model
    def _q2c_target(self, key, lookups, resolved):
        """``(subscription id, metric id, state, unbillable reason)`` of an event sent with
        ``key`` (subscription, subscription_id, metric), or False when that does not resolve
        to an open subscription and a metric (``_q2c_check_item`` then says why).

        ``resolved`` (two dicts, filled here) keeps what each subscription as sent and each
        metric code of a company resolve to: a batch resolves each once, not once per
        combination of the two."""
        by_ref, by_id, metrics, usage_metrics = lookups
        subs, codes = resolved
        ref, sub_id, code = key
        sub = subs.get((ref, sub_id))
        if sub is None:
            sub, error = self._q2c_resolve_subscription(
                {"subscription": ref, "subscription_id": sub_id}, by_ref, by_id
            )
            sub = subs[(ref, sub_id)] = False if error or sub.state == "closed" else sub
        if not sub:
            return False
        metric = codes.get((code, sub.company_id))
        if metric is None:
            metric, error = self._q2c_resolve_metric({"metric": code}, sub, metrics)
            metric = codes[(code, sub.company_id)] = False if error else metric
        if not metric:
            return False
        if metric.id in usage_metrics.get(sub.id, ()):
            return (sub.id, metric.id, "pending", None)
        return (
            sub.id,
            metric.id,
            "unbillable",
            self._q2c_unbillable_reason(sub, metric, usage_metrics),
        )

    @api.model
    def _q2c_check_item(self, index, item, lookups):
        """``(row, None)`` of one ingested item (a tuple in the order of ``STAGING_COLUMNS``)
        or ``(None, error)``, the error naming the field at fault."""
        if not isinstance(item, dict):
            return None, _(
                "the event must be a dictionary (struct), got %(type)s", type=type(item).__name__
            )
        if not INGEST_KEYS.issuperset(item):
            return None, _(
                "unknown key(s) %(keys)s (expected: %(expected)s)",
                keys=", ".join(sorted(map(str, set(item) - INGEST_KEYS))),
                expected=", ".join(sorted(INGEST_KEYS)),
            )
        by_ref, by_id, metrics, usage_metrics = lookups
        sub, error = self._q2c_resolve_subscription(item, by_ref, by_id)
        if error:
            return None, error
        metric, error = self._q2c_resolve_metric(item, sub, metrics)
        if error:
            return None, error
        row, error = self._q2c_check_event(item, sub, metric, usage_metrics)
        if error:
            return None, error
        return (
            index,
            row["subscription_id"],
            row["metric_id"],
            row["transaction_id"],
            row["quantity"],
            row["timestamp"],
            row["properties_json"],
            row["state"],
            row["unbillable_reason"],
            row["payload_hash"],
        ), None

    @api.model
    def _q2c_resolve_subscription(self, item, by_ref, by_id):
        """``(SubInfo, None)`` of an ingested item, or ``(None, error)``."""
        ref = item.get("subscription")
        sub_id = item.get("subscription_id")
        if ref in (None, "") and sub_id in (None, False):
            return None, _("subscription: required (give subscription or subscription_id)")
        sub = None
        if ref not in (None, ""):
            if not isinstance(ref, str):
                return None, _(
                    "subscription: must be a subscription reference (a string), got %(value)r",
                    value=ref,
                )
            ref = ref.strip()
            if ref in by_ref and by_ref[ref] is None:
                return None, _(
                    "subscription: the reference %(ref)r is used in several companies; give"
                    " subscription_id",
                    ref=ref,
                )
            sub = by_ref.get(ref)
            if not sub:
                return None, _("subscription: unknown subscription %(ref)r", ref=ref)
        if sub_id not in (None, False):
            if isinstance(sub_id, bool) or not isinstance(sub_id, int):
                return None, _(
                    "subscription_id: must be an integer id, got %(value)r", value=sub_id
                )
            by_id_sub = by_id.get(sub_id)
            if not by_id_sub:
                return None, _("subscription_id: unknown subscription id %(value)s", value=sub_id)
            if sub and sub != by_id_sub:
                return None, _(
                    "subscription_id: %(value)s is not the subscription %(ref)s",
                    value=sub_id,
                    ref=ref,
                )
            sub = by_id_sub
        return sub, None

    @api.model
    def _q2c_resolve_metric(self, item, sub, metrics):
        """``(MetricInfo, None)`` of an ingested item's metric code, or ``(None, error)``."""
        code = item.get("metric")
        if code is None or code == "":
            return None, _("metric: required (the code of a usage metric)")
        if not isinstance(code, str):
            return None, _("metric: must be a metric code (a string), got %(value)r", value=code)
        code = code.strip()
        metric = metrics.get((code, sub.company_id)) or metrics.get((code, False))
        if not metric:
            return None, _(
                "metric: unknown usage metric code %(code)r in the company %(company)s",
                code=code,
                company=self.env["res.company"].browse(sub.company_id).name,
            )
        return metric, None

    @api.model
    def _q2c_check_event(self, item, sub, metric, usage_metrics):
        """Check the fields of one event of ``sub`` (a SubInfo) for ``metric`` (a MetricInfo),
        both resolved or None: ``(row, None)`` with the values to store, or ``(None, error)``,
        the error naming the field."""
        transaction_id = item.get("transaction_id")
        if not isinstance(transaction_id, str) or not transaction_id.strip():
            return None, _("transaction_id: required (a non-empty string)")
        transaction_id = transaction_id.strip()
        if len(transaction_id) > TRANSACTION_ID_SIZE:
            return None, _(
                "transaction_id: longer than %(size)s characters", size=TRANSACTION_ID_SIZE
            )
        if "\x00" in transaction_id:
            return None, _("transaction_id: must not hold a NUL character")
        if not sub:
            return None, _("subscription_id: required")
        if sub.state == "closed":
            return None, _("subscription: %(ref)s is closed", ref=sub.name)
        if not metric:
            return None, _("metric_id: required (a usage metric)")
        quantity = item.get("quantity", 1)
        if quantity is None:
            quantity = 1
        if isinstance(quantity, bool) or not isinstance(quantity, (int, float)):
            return None, _("quantity: must be a number, got %(value)r", value=quantity)
        if math.isnan(quantity) or math.isinf(quantity):
            return None, _("quantity: must be a finite number, got %(value)s", value=quantity)
        if quantity < 0:
            return None, _("quantity: cannot be negative, got %(value)s", value=quantity)
        quantity = float(quantity)
        raw_timestamp = item.get("timestamp")
        timestamp = self._q2c_parse_timestamp(raw_timestamp)
        if timestamp is None:
            return None, _(
                "timestamp: malformed, expected ISO 8601 such as 2026-01-31T23:59:59Z, got"
                " %(value)r",
                value=raw_timestamp,
            )
        properties = item.get("properties")
        properties_json = None
        if properties in (None, False) or properties == {}:
            properties = None
        elif not isinstance(properties, dict):
            return None, _(
                "properties: must be a dictionary (struct), got %(type)s",
                type=type(properties).__name__,
            )
        else:
            properties_json = _properties_json(properties)
        if properties_json and "\\u0000" in properties_json:
            return None, _("properties: must not hold a NUL character (\\u0000)")
        given = raw_timestamp not in (None, False, "")
        payload_hash = _payload_hash(
            metric.id, quantity, timestamp if given else None, properties_json
        )
        reason = self._q2c_unbillable_reason(sub, metric, usage_metrics)
        return {
            "subscription_id": sub.id,
            "metric_id": metric.id,
            "transaction_id": transaction_id,
            "quantity": quantity,
            "timestamp": timestamp,
            "properties": properties,
            "properties_json": properties_json,
            "payload_hash": payload_hash,
            "state": "unbillable" if reason else "pending",
            "unbillable_reason": reason or None,
        }, None

    @api.model
    def _q2c_parse_timestamp(self, value):
        """A naive UTC datetime (to the second, as stored) from an ISO 8601 string (a
        trailing Z or an offset is converted to UTC; no offset means UTC; a date alone is its
        midnight), a datetime or a date; now when empty; None when malformed."""
        if value in (None, False, ""):
            return fields.Datetime.now()
        if isinstance(value, datetime):
            return _utc_naive(value).replace(microsecond=0)
        if isinstance(value, date):
            return day_start(value)
        if not isinstance(value, str):
            return None
        text = value.strip()
        if len(text) < 10:
            return None
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            return None
        if parsed.year < 1000:
            return None
        if parsed.tzinfo is not None:
            parsed = parsed.astimezone(timezone.utc).replace(tzinfo=None)
        return parsed.replace(microsecond=0) if parsed.microsecond else parsed

    @api.model
    def _q2c_parse_properties_text(self, text):
        if not text or not text.strip():
            return None
        try:
            value = json.loads(text)
        except ValueError:
            raise ValidationError(_("properties: not valid JSON: %(value)s", value=text)) from None
        if not isinstance(value, dict):
            raise ValidationError(
                _(
                    'properties: must be a JSON object such as {"user": "alice"}, got %(value)s',
                    value=text,
                )
            )
        return value or None

    @api.model
    def _q2c_usage_metrics_by_subscription(self, subscription_ids):
        """``{subscription_id: set of metric ids}`` of the usage plans on the subscriptions'
        lines (any dates): an event of another metric cannot be billed. One query."""
        if not subscription_ids:
            return {}
        # Only plan metrics are read (no record rule: as sudo), for subscriptions the caller
        # already found through the record rules; one query, no record per line.
        self.env["q2c.subscription.line"].flush_model(
            ["subscription_id", "price_plan_id", "charge_type"]
        )
        self.env["q2c.price.plan"].flush_model(["metric_id"])
        result = {sub_id: set() for sub_id in subscription_ids}
        for sub_id, metric_id in self.env.execute_query(
            SQL(
                """
            SELECT DISTINCT l.subscription_id, p.metric_id
              FROM q2c_subscription_line l
              JOIN q2c_price_plan p ON p.id = l.price_plan_id
             WHERE l.subscription_id = ANY(%s)
               AND l.charge_type = 'usage'
               AND p.metric_id IS NOT NULL
            """,
                list(subscription_ids),
            )
        ):
            result[sub_id].add(metric_id)
        return result

    @api.model
    def _q2c_unbillable_reason(self, sub, metric, usage_metrics):
        """Why an event of ``sub`` (SubInfo) for ``metric`` (MetricInfo) cannot be billed, or
        False."""
        if metric.id not in usage_metrics.get(sub.id, ()):
            return _(
                "No usage plan for the metric %(metric)s on %(sub)s",
                metric=metric.code,
                sub=sub.name,
            )
        return False

    @api.model
    def _q2c_insert_rows(self, rows):
        """Store ``rows`` (tuples in the order of ``STAGING_COLUMNS``, one per key).

        First, in a savepoint, one ``COPY`` straight into the events table, the rows sorted by
        key (concurrent batches then wait for each other's keys in the same order: no
        deadlock): the common case, new events only, costs PostgreSQL nothing more than
        storing them. When a key is stored already (a retried batch, a conflict), that
        ``COPY`` fails on it and is rolled back, and the rows go through a temporary staging
        table and one ``INSERT ... SELECT ... ON CONFLICT DO NOTHING`` instead.

        :return: ``(inserted, conflicts)``: the count of rows inserted and ``{index:
            transaction_id}`` of the rows whose key is stored already with another payload
            (looked up only when some row was not inserted).
        """
        self.flush_model()
        cr = self.env.cr
        rows = sorted(rows, key=_row_key)
        now = fields.Datetime.now()
        # The arrival time as text once (not converted again for each row).
        received_at = (str(now),)
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerows(row[1:] + received_at for row in rows)
        columns = SQL(", ").join(SQL.identifier(name) for name, __ in STAGING_COLUMNS[1:])
        try:
            with cr.savepoint(flush=False):
                buffer.seek(0)
                cr.copy_expert(
                    SQL(
                        "COPY q2c_usage_event (%s, received_at) FROM STDIN WITH (FORMAT csv)",
                        columns,
                    ).code,
                    buffer,
                    size=COPY_CHUNK,
                )
            return len(rows), {}
        except psycopg2.errors.UniqueViolation:
            pass
        # One table per database session, emptied at each commit (and below, for a second
        # call in the same transaction).
        cr.execute(
            SQL(
                "CREATE TEMPORARY TABLE IF NOT EXISTS %s (%s) ON COMMIT DELETE ROWS",
                SQL.identifier(STAGING_TABLE),
                SQL(", ").join(
                    SQL("%s %s", SQL.identifier(name), SQL(sql_type))
                    for name, sql_type in STAGING_COLUMNS
                ),
            )
        )
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerows(rows)
        buffer.seek(0)
        cr.copy_expert(
            f"COPY {STAGING_TABLE} FROM STDIN WITH (FORMAT csv)", buffer, size=COPY_CHUNK
        )
        # Key order: concurrent batches lock the unique index in the same order (no deadlock).
        cr.execute(
            SQL(
                """
            INSERT INTO q2c_usage_event (%(columns)s, received_at)
            SELECT %(columns)s, %(now)s
              FROM %(staging)s
             ORDER BY subscription_id, transaction_id COLLATE "C"
                ON CONFLICT (subscription_id, transaction_id) DO NOTHING
            """,
                columns=columns,
                now=now,
                staging=SQL.identifier(STAGING_TABLE),
            )
        )
        inserted = cr.rowcount
        conflicts = {}
        if inserted < len(rows):
            # Whatever was not inserted is stored: same digest, a duplicate; else a conflict.
            cr.execute(
                SQL(
                    """
                SELECT s.n, s.transaction_id
                  FROM %(staging)s s
                  JOIN q2c_usage_event e
                    ON e.subscription_id = s.subscription_id
                   AND e.transaction_id = s.transaction_id
                 WHERE e.payload_hash IS DISTINCT FROM s.payload_hash
                """,
                    staging=SQL.identifier(STAGING_TABLE),
                )
            )
            conflicts = dict(cr.fetchall())
        cr.execute(SQL("DELETE FROM %s", SQL.identifier(STAGING_TABLE)))
        return inserted, conflicts

    @api.model
    def _q2c_invalidate_usage_cache(self):
        """After raw SQL on the events: drop what the ORM cache holds of them and of the
        fields computed from them (counts, current usage, invoice line links)."""
        self.invalidate_model()
        self.env["q2c.usage.summary"].invalidate_model()
        self.env["q2c.subscription"].invalidate_model(
            [
                "usage_summary_ids",
                "usage_unbilled_amount",
                "usage_event_count",
                "usage_unbillable_count",
                "usage_enabled",
            ]
        )
        self.env["q2c.usage.metric"].invalidate_model(["event_count"])
        self.env["account.move.line"].invalidate_model(["q2c_usage_event_ids"])
        self.env["account.move"].invalidate_model(["q2c_usage_event_count"])

    @api.model
    def _q2c_aggregate_sql(self, event, metric, condition):
        """SQL of the quantity of a group of events under their metric's aggregation, for the
        events matching ``condition``: ``sum``, ``max``, ``count``, ``unique_count`` (distinct
        values of ``properties ->> unique_property``, events without it are not counted) and
        ``last`` (the quantity of the latest event by timestamp, then id). The costly
        aggregates only run on the events of metrics that use them."""
        return SQL(
            """CASE %(m)s.aggregation
                 WHEN 'sum' THEN SUM(%(e)s.quantity) FILTER (WHERE %(cond)s)
                 WHEN 'max' THEN MAX(%(e)s.quantity) FILTER (WHERE %(cond)s)
                 WHEN 'count' THEN COUNT(%(e)s.id) FILTER (WHERE %(cond)s)
                 WHEN 'unique_count' THEN COUNT(DISTINCT %(e)s.properties ->> %(m)s.unique_property)
                     FILTER (WHERE %(cond)s AND %(m)s.aggregation = 'unique_count')
                 WHEN 'last' THEN (ARRAY_AGG(%(e)s.quantity ORDER BY %(e)s.timestamp DESC, %(e)s.id DESC)
                     FILTER (WHERE %(cond)s AND %(m)s.aggregation = 'last'))[1]
               END""",
            m=SQL.identifier(metric),
            e=SQL.identifier(event),
            cond=condition,
        )

    @api.model
    def _q2c_aggregate(self, windows):
        """Aggregate the events of ``windows`` in one query.

        :param windows: ``[(key, subscription_id, metric_id, date_from, date_to)]``, the dates
            inclusive (timestamps from ``date_from`` 00:00 UTC to ``date_to`` 24:00 UTC)
        :return: ``{key: {"quantity", "billed_quantity", "pending_count", "billed_count"}}``
            for the windows holding events: ``quantity`` over the pending and billed events,
            ``billed_quantity`` over the billed ones only (what was invoiced), each under the
            metric's aggregation. Unbillable events are left out.
        """
        if not windows:
            return {}
        self.flush_model()
        keys = {}
        values = []
        for index, (key, sub_id, metric_id, date_from, date_to) in enumerate(windows):
            keys[index] = key
            values.append(
                SQL(
                    "(%s::int4, %s::int4, %s::int4, %s::timestamp, %s::timestamp)",
                    index,
                    sub_id,
                    metric_id,
                    day_start(date_from),
                    day_start(date_to + ONE_DAY),
                )
            )
        everything = SQL("TRUE")
        billed = SQL("e.state = 'billed'")
        self.env.cr.execute(
            SQL(
                """
            SELECT w.wkey,
                   COUNT(e.id) FILTER (WHERE e.state = 'pending'),
                   COUNT(e.id) FILTER (WHERE e.state = 'billed'),
                   %(quantity)s,
                   %(billed_quantity)s
              FROM (VALUES %(values)s) AS w(wkey, subscription_id, metric_id, ts_from, ts_to)
              JOIN q2c_usage_metric m ON m.id = w.metric_id
              JOIN q2c_usage_event e
                ON e.subscription_id = w.subscription_id
               AND e.metric_id = w.metric_id
               AND e.timestamp >= w.ts_from
               AND e.timestamp < w.ts_to
               AND e.state IN ('pending', 'billed')
             GROUP BY w.wkey, m.id
            """,
                values=SQL(", ").join(values),
                quantity=self._q2c_aggregate_sql("e", "m", everything),
                billed_quantity=self._q2c_aggregate_sql("e", "m", billed),
            )
        )
        return {
            keys[wkey]: {
                "pending_count": pending,
                "billed_count": billed_count,
                "quantity": float(quantity or 0.0),
                "billed_quantity": float(billed_quantity or 0.0),
            }
            for wkey, pending, billed_count, quantity, billed_quantity in self.env.cr.fetchall()
        }

    @api.model
    def _q2c_link_invoice_lines(self, lines):
        """Mark billed and link to ``lines`` (usage invoice lines: subscription, metric and
        dated period) their pending events, in one query. Returns the count linked."""
        lines = lines.filtered(
            lambda line: (
                line.q2c_usage_metric_id
                and line.q2c_subscription_id
                and line.q2c_period_start
                and line.q2c_period_end
            )
        )
        if not lines:
            return 0
        self.flush_model()
        values = SQL(", ").join(
            SQL(
                "(%s::int4, %s::int4, %s::int4, %s::timestamp, %s::timestamp)",
                line.id,
                line.q2c_subscription_id.id,
                line.q2c_usage_metric_id.id,
                day_start(line.q2c_period_start),
                day_start(line.q2c_period_end + ONE_DAY),
            )
            for line in lines
        )
        self.env.cr.execute(
            SQL(
                """
            UPDATE q2c_usage_event e
               SET state = 'billed', invoice_line_id = l.line_id, unbillable_reason = NULL
              FROM (VALUES %(values)s) AS l(line_id, subscription_id, metric_id, ts_from, ts_to)
             WHERE e.subscription_id = l.subscription_id
               AND e.metric_id = l.metric_id
               AND e.state = 'pending'
               AND e.timestamp >= l.ts_from
               AND e.timestamp < l.ts_to
            """,
                values=values,
            )
        )
        count = self.env.cr.rowcount
        self._q2c_invalidate_usage_cache()
        return count

    @api.model
    def _q2c_release_invoice_lines(self, lines):
        """Events of deleted invoice lines go back to pending (billed again by the next
        invoice, as late usage when their period is invoiced already)."""
        if not lines:
            return 0
        self.flush_model()
        self.env.cr.execute(
            SQL(
                """
            UPDATE q2c_usage_event
               SET state = 'pending', invoice_line_id = NULL
             WHERE invoice_line_id = ANY(%s)
            """,
                lines.ids,
            )
        )
        count = self.env.cr.rowcount
        self._q2c_invalidate_usage_cache()
        return count
