import re
import secrets
from collections import defaultdict
from functools import reduce

from markupsafe import Markup, escape

from odoo import fields, models, tools
from odoo.tools import SQL
from odoo.tools.mail import html_normalize, html_sanitize
from odoo.tools.rendering_tools import parse_inline_template

# The t-out of an allowed expression (with its optional default), as matched by Odoo's regex
# mode of QWeb rendering (mail.render.mixin._render_template_qweb_regex).
T_OUT = re.compile(
    r"""<(\w+)[\s|\n]+t-out=[\s|\n]*(\'|\")((\w|\.)+)(\2)[\s|\n]*((\/>)|(>[\s|\n]*([^<>]*?))"""
    r"""[\s|\n]*<\/\1>)""",
    re.DOTALL,
)
# Where a value goes in the body sanitized once per language: letters and digits only (the
# sanitizer keeps them as they are), with a random part no template contains.
SLOT_TOKEN = secrets.token_hex(6)
SLOT = f"q2cslot{SLOT_TOKEN}n%dq2c"
SLOT_RE = re.compile(rf"q2cslot{SLOT_TOKEN}n(\d+)q2c")


class MailTemplate(models.Model):
    _inherit = "mail.template"

    def _q2c_queue_batch(self, res_ids):
        """Queue this template's mail for each of ``res_ids`` (never sent here); returns the
        ``mail.mail`` records in the order of ``res_ids``.

        The mails ``send_mail_batch(res_ids, force_send=False)`` makes, made set-based for the
        dunning runs: the fields are rendered by substitution of their allowed expressions, the
        body parsed and sanitized once per language instead of once per mail, and the
        messages, mails and recipients inserted in one statement each. A template this does
        not cover (QWeb logic, attachments, reports, a layout, a scheduled date, e-mail
        addresses or default recipients) goes through ``send_mail_batch``."""
        self.ensure_one()
        if not res_ids:
            return self.env["mail.mail"]
        if not self._q2c_set_based_ok():
            return self.send_mail_batch(res_ids, force_send=False)
        self._send_check_access(res_ids)
        model = self.render_model
        values = {}
        langs = self._q2c_render_inline("lang", self.env[model].browse(res_ids))
        by_lang = defaultdict(list)
        for res_id in res_ids:
            by_lang[langs[res_id]].append(res_id)
        for lang, ids in by_lang.items():
            template = self.with_context(lang=lang) if lang else self
            records = template.env[model].browse(ids)
            rendered = {
                field: template._q2c_render_inline(field, records)
                for field in ("subject", "email_from", "reply_to", "partner_to")
            }
            bodies = template._q2c_render_bodies(records)
            for record in records:
                values[record.id] = {
                    field: rendered[field][record.id] for field in rendered
                } | bodies[record.id]
        return self._q2c_insert_mails(res_ids, values)

    def _q2c_set_based_ok(self):
        self.ensure_one()
        return bool(
            self.render_model
            and not self.attachment_ids
            and not self.report_template_ids
            and not self.email_layout_xmlid
            and not self.scheduled_date
            and not self.email_to
            and not self.email_cc
            and not self.use_default_to
            and not self._has_unsafe_expression()
        )

    # ------------------------------------------------------------------
    # Rendering
    # ------------------------------------------------------------------

    @staticmethod
    def _q2c_eval(expression, record, default):
        try:
            value = reduce(lambda rec, name: rec[name], expression.split(".")[1:], record)
        except KeyError:
            value = None
        return value or default

    def _q2c_render_inline(self, field, records):
        """``{id: text}``: the inline template of ``field`` on ``records`` (as its regex mode)."""
        source = self[field]
        if not source:
            return dict.fromkeys(records.ids, "")
        parts = parse_inline_template(str(source))
        result = {}
        for record in records:
            out = []
            for string, expression, default in parts:
                out.append(string)
                if expression:
                    out.append(str(self._q2c_eval(expression, record, default)))
            result[record.id] = "".join(out)
        return result

    def _q2c_body_skeletons(self, base_url):
        """The body split around its t-outs, twice: as rendered (``body_html`` of the mail) and
        sanitized as the message's body field does (``body``). Returns ``(slots, raw parts,
        sanitized parts)``: slots ``(tag, expression, default)``, parts a list of strings and
        slot numbers."""
        source = html_normalize(f"<div>{self.body_html}</div>")
        slots, raw, with_slots = [], [], []
        position = 0
        for match in T_OUT.finditer(source):
            raw.append(source[position : match.start()])
            with_slots.append(source[position : match.start()])
            tag = match.group(1)
            index = len(slots)
            slots.append((tag, match.group(3), match.group(9)))
            raw.append(index)
            slot = SLOT % index
            with_slots.append(slot if tag.lower() == "t" else f"<{tag}>{slot}</{tag}>")
            position = match.end()
        raw.append(source[position:])
        with_slots.append(source[position:])
        Render = self.env["mail.render.mixin"]
        raw = [
            Render._replace_local_links(part, base_url) if isinstance(part, str) else part
            for part in raw
        ]
        body_field = self.env["mail.message"]._fields["body"]
        sanitized = html_sanitize(
            Render._replace_local_links("".join(with_slots), base_url),
            silent=True,
            sanitize_tags=body_field.sanitize_tags,
            sanitize_attributes=body_field.sanitize_attributes,
            sanitize_style=body_field.sanitize_style,
            sanitize_form=body_field.sanitize_form,
            sanitize_conditional_comments=body_field.sanitize_conditional_comments,
            output_method=body_field.sanitize_output_method,
            strip_style=body_field.strip_style,
            strip_classes=body_field.strip_classes,
        )
        clean = []
        for number, piece in enumerate(SLOT_RE.split(sanitized)):
            clean.append(int(piece) if number % 2 else piece)
        return slots, raw, clean

    def _q2c_render_bodies(self, records):
        """``{id: {"body_html": rendered body, "body": its sanitized version}}``."""
        if not self.body_html:
            return {record.id: {"body_html": "", "body": ""} for record in records}
        skeletons = {}
        result = {}
        # The records' base URL only matters when the body has local links to make absolute.
        Render = self.env["mail.render.mixin"]
        local_links = Render._replace_local_links(self.body_html, "q2c:") != self.body_html
        for record in records:
            base_url = record.get_base_url() if local_links else None
            if base_url not in skeletons:
                skeletons[base_url] = self._q2c_body_skeletons(base_url)
            slots, raw, clean = skeletons[base_url]
            outs = [
                escape(self._q2c_eval(expression, record, default) or "")
                for __, expression, default in slots
            ]
            html = []
            for part in raw:
                if isinstance(part, str):
                    html.append(part)
                    continue
                tag = slots[part][0]
                html.append(outs[part] if tag.lower() == "t" else f"<{tag}>{outs[part]}</{tag}>")
            result[record.id] = {
                "body_html": Markup("".join(html)),
                "body": Markup(
                    "".join(part if isinstance(part, str) else outs[part] for part in clean)
                ),
            }
        return result

    # ------------------------------------------------------------------
    # Queueing
    # ------------------------------------------------------------------

    def _q2c_insert_mails(self, res_ids, values):
        """Insert the messages, mails and recipients of ``values`` (``{res_id: rendered
        fields}``) as ``mail.mail.create`` would store them."""
        model = self.render_model
        records = self.env[model].sudo().browse(res_ids)
        names = {record.id: record.display_name for record in records}
        partner_ids = {
            res_id: self._parse_partner_to(values[res_id]["partner_to"]) for res_id in res_ids
        }
        existing = set(
            self.env["res.partner"]
            .sudo()
            .browse({pid for pids in partner_ids.values() for pid in pids})
            .exists()
            .ids
        )
        # As mail.message's defaults: the author is the user; an empty sender is theirs.
        author = self.env.user.partner_id
        now = self.env.cr.now()
        uid = self.env.uid
        rows = self.env.execute_query(
            SQL(
                """
                INSERT INTO mail_message (
                    subject, body, model, res_id, record_name, message_type, email_from,
                    author_id, reply_to, message_id, mail_server_id, email_add_signature, date,
                    create_uid, create_date, write_uid, write_date
                )
                SELECT m.subject, m.body, %(model)s, m.res_id, m.record_name, 'email_outgoing',
                       m.email_from, %(author)s, m.reply_to, m.message_id, %(server)s, TRUE,
                       %(date)s, %(uid)s, %(now)s, %(uid)s, %(now)s
                  FROM unnest(%(subjects)s::varchar[], %(bodies)s::text[], %(res_ids)s::int[],
                              %(names)s::varchar[], %(froms)s::varchar[],
                              %(reply_tos)s::varchar[], %(message_ids)s::varchar[])
                       WITH ORDINALITY AS m(subject, body, res_id, record_name, email_from,
                                            reply_to, message_id, position)
              ORDER BY m.position
             RETURNING id
                """,
                model=model,
                server=self.mail_server_id.id or None,
                date=fields.Datetime.now(),
                uid=uid,
                now=now,
                subjects=[values[res_id]["subject"] for res_id in res_ids],
                bodies=[str(values[res_id]["body"]) for res_id in res_ids],
                res_ids=list(res_ids),
                names=[names[res_id] for res_id in res_ids],
                froms=[
                    values[res_id]["email_from"] or author.email_formatted or None
                    for res_id in res_ids
                ],
                author=author.id or None,
                reply_tos=[values[res_id]["reply_to"] for res_id in res_ids],
                message_ids=[
                    tools.mail.generate_tracking_message_id(f"{res_id}-{model}")
                    for res_id in res_ids
                ],
            )
        )
        message_ids = sorted(row[0] for row in rows)
        rows = self.env.execute_query(
            SQL(
                """
                INSERT INTO mail_mail (
                    mail_message_id, body_html, state, auto_delete, email_to, email_cc,
                    create_uid, create_date, write_uid, write_date
                )
                SELECT m.message_id, m.body_html, 'outgoing', %(auto_delete)s, '', '',
                       %(uid)s, %(now)s, %(uid)s, %(now)s
                  FROM unnest(%(message_ids)s::int[], %(bodies)s::text[])
                       WITH ORDINALITY AS m(message_id, body_html, position)
              ORDER BY m.position
             RETURNING id
                """,
                auto_delete=self.auto_delete,
                uid=uid,
                now=now,
                message_ids=message_ids,
                bodies=[str(values[res_id]["body_html"]) for res_id in res_ids],
            )
        )
        mail_ids = sorted(row[0] for row in rows)
        pairs = [
            (message_id, mail_id, pid)
            for res_id, message_id, mail_id in zip(res_ids, message_ids, mail_ids, strict=True)
            for pid in dict.fromkeys(partner_ids[res_id])
            if pid in existing
        ]
        if pairs:
            for table, column, position in (
                ("mail_message_res_partner_rel", "mail_message_id", 0),
                ("mail_mail_res_partner_rel", "mail_mail_id", 1),
            ):
                self.env.execute_query(
                    SQL(
                        "INSERT INTO %s (%s, res_partner_id) "
                        "SELECT * FROM unnest(%s::int[], %s::int[]) ON CONFLICT DO NOTHING",
                        SQL.identifier(table),
                        SQL.identifier(column),
                        [pair[position] for pair in pairs],
                        [pair[2] for pair in pairs],
                    )
                )
        if "message_ids" in records._fields:
            records.invalidate_recordset(["message_ids"])
        return self.env["mail.mail"].browse(mail_ids)
