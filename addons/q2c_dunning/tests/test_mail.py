from unittest.mock import patch

from markupsafe import Markup

from odoo.tests import tagged
from odoo.tools import html_sanitize

from .common import Q2cDunningCommon


@tagged("post_install", "-at_install")
class TestDunningMail(Q2cDunningCommon):
    def test_reminder_is_queued_with_both_links(self):
        sub, invoice, __ = self._dun_failed_invoice()
        self._dun_run(self._day(1))
        mail = self._dun_mails(invoice)
        self.assertEqual(len(mail), 1)
        self.assertEqual(mail.state, "outgoing", "queued, not sent")
        self.assertEqual(mail.recipient_ids, self.customer)
        base = invoice.get_base_url()
        invoice.invalidate_recordset()
        pay_url = base + invoice.get_portal_url()
        method_url = base + sub.get_portal_url()
        self.assertIn("access_token=", pay_url)
        self.assertIn(f"/my/invoices/{invoice.id}", pay_url)
        self.assertIn(f"/my/subscriptions/{sub.id}", method_url)
        self.assertEqual(invoice.q2c_dunning_pay_url, pay_url)
        self.assertEqual(invoice.q2c_dunning_payment_method_url, method_url)
        self.assertIn(pay_url, mail.body_html)
        self.assertIn(method_url, mail.body_html)
        self.assertIn(invoice.name, mail.body_html)
        log = self._dun_case(invoice).log_ids.filtered(lambda log: log.mail_id)
        self.assertEqual(log.mail_id, mail)

    def test_set_based_mails_are_those_of_send_mail_batch(self):
        """The run queues its mails set-based (rendered by substitution, inserted in batch):
        the same mails as Odoo's ``send_mail_batch``, for a customer in another language
        too."""
        self.env["res.lang"]._activate_lang("fr_FR")
        self.customer_2.lang = "fr_FR"
        __, invoice, __ = self._dun_failed_invoice()
        __, invoice_2, __ = self._dun_failed_invoice(partner=self.customer_2)
        self._dun_run(self._day(1))
        invoices = invoice | invoice_2
        for key in ("firm", "final", "suspended", "cancelled", "payment_method"):
            template = self.env.ref(f"q2c_dunning.mail_template_dunning_{key}").sudo()
            ours = template._q2c_queue_batch(invoices.ids)
            odoo = template.send_mail_batch(invoices.ids, force_send=False)
            self.assertEqual(ours.mapped("res_id"), invoices.ids)
            for mine, theirs in zip(ours, odoo, strict=True):
                for field in (
                    "subject",
                    "body_html",
                    "email_from",
                    "author_id",
                    "reply_to",
                    "recipient_ids",
                    "partner_ids",
                    "model",
                    "res_id",
                    "record_name",
                    "message_type",
                    "subtype_id",
                    "auto_delete",
                    "mail_server_id",
                    "state",
                    "email_to",
                    "email_cc",
                    "scheduled_date",
                    "is_notification",
                    "email_add_signature",
                    "attachment_ids",
                ):
                    self.assertEqual(mine[field], theirs[field], f"{key}: {field}")
                # The message's body: sanitized as the field does (once per template here).
                self.assertEqual(
                    html_sanitize(mine.body, sanitize_style=True), theirs.body, f"{key}: body"
                )
                self.assertNotEqual(mine.message_id, theirs.message_id)
                self.assertIn(mine.res_id, invoices.ids)

    def _links_one_by_one(self, invoice):
        """The links of ``invoice`` as they were made one invoice at a time: its own base URL,
        portal pages and ``Markup %`` of the links."""
        base = invoice.get_base_url()
        sub = invoice.invoice_line_ids.q2c_subscription_id[:1]
        pay = base + invoice.get_portal_url()
        method = base + (sub.get_portal_url() if sub else "/my/payment_method")
        html = Markup(
            '<div style="margin: 16px 0px;">'
            '<a href="%(pay)s" style="background-color: #875A7B; padding: 8px 16px; '
            'color: #ffffff; text-decoration: none; border-radius: 5px;">%(pay_label)s</a> '
            '<a href="%(method)s" style="margin-left: 8px; padding: 8px 16px; '
            "color: #875A7B; text-decoration: none; border: 1px solid #875A7B; "
            'border-radius: 5px;">%(method_label)s</a></div>'
            '<p style="font-size: 12px; color: #666666;">%(pay_label)s: '
            '<a href="%(pay)s">%(pay)s</a><br/>%(method_label)s: '
            '<a href="%(method)s">%(method)s</a></p>'
        ) % {
            "pay": pay,
            "method": method,
            "pay_label": "Pay now",
            "method_label": "Update payment method",
        }
        return pay, method, html

    def test_links_made_in_batch_are_those_made_one_by_one(self):
        """The links of many invoices are made in one pass (one base URL, one portal URL per
        subscription, the buttons formatted from escaped parts): the same as one invoice at a
        time, with characters to escape in the base URL, and with a base URL that depends on
        the record (a module overriding ``get_base_url``)."""
        sub = self._dun_subscription()
        sub_2 = self._dun_subscription(partner=self.customer_2)
        invoices = (
            self._dun_invoice(sub)
            | self._dun_invoice(sub, amount=50.0)
            | self._dun_invoice(sub_2, amount=75.0)
        )
        invoices._q2c_dunning_ensure_portal_tokens()
        self.env["ir.config_parameter"].sudo().set_param(
            "web.base.url", "https://pay.example.com/q?a=1&b=<2>"
        )
        Move = type(self.env["account.move"])
        for per_record in (False, True):
            invoices.invalidate_recordset()
            if per_record:
                # A base URL of each record (as website's for a record with a website).
                with patch.object(
                    Move, "get_base_url", lambda move: f"https://site{move.id}.example.com"
                ):
                    invoices.mapped("q2c_dunning_links_html")
                    expected = [self._links_one_by_one(invoice) for invoice in invoices]
            else:
                invoices.mapped("q2c_dunning_links_html")
                expected = [self._links_one_by_one(invoice) for invoice in invoices]
            self.assertEqual(len(set(expected)), 3)
            for invoice, (pay, method, html) in zip(invoices, expected, strict=True):
                self.assertEqual(invoice.q2c_dunning_pay_url, pay)
                self.assertEqual(invoice.q2c_dunning_payment_method_url, method)
                self.assertEqual(invoice.q2c_dunning_links_html, html)
                self.assertIn("&amp;b=&lt;2&gt;" if not per_record else f"site{invoice.id}", html)

    def test_template_with_qweb_logic_still_queued(self):
        """A template edited with QWeb logic (not rendered by substitution) goes through
        ``send_mail_batch``: the mail is queued all the same."""
        template = self.env.ref("q2c_dunning.mail_template_dunning_friendly")
        template.body_html = (
            '<p t-if="object.name">Pay <t t-out="object.name"/> '
            '<t t-out="object.q2c_dunning_links_html"/></p>'
        )
        self.assertTrue(template._has_unsafe_expression())
        __, invoice, __ = self._dun_failed_invoice()
        self._dun_run(self._day(1))
        mail = self._dun_mails(invoice)
        self.assertEqual(len(mail), 1)
        self.assertEqual(mail.state, "outgoing")
        self.assertIn(f"Pay {invoice.name}", mail.body_html)
        self.assertIn(invoice.q2c_dunning_pay_url, mail.body_html)

    def test_templates_render_without_qweb_compilation(self):
        """Only allowed expressions: mail renders them by substitution (no QWeb compilation per
        invoice) and users who are not template editors may edit them."""
        templates = self.env["mail.template"].search(
            [
                (
                    "id",
                    "in",
                    [
                        self.env.ref(f"q2c_dunning.mail_template_dunning_{key}").id
                        for key in (
                            "pre_due",
                            "friendly",
                            "firm",
                            "final",
                            "payment_method",
                            "suspended",
                            "cancelled",
                        )
                    ],
                )
            ]
        )
        self.assertEqual(len(templates), 7)
        for template in templates:
            self.assertFalse(template._has_unsafe_expression(), template.name)

    def test_reminder_templates_escalate(self):
        __, invoice, __ = self._dun_failed_invoice()
        for n in (1, 7, 14, 21):
            self._dun_run(self._day(n))
        mails = self._dun_mails(invoice)
        expected = [
            self.env.ref(f"q2c_dunning.mail_template_dunning_{key}")._render_field(
                "subject", invoice.ids
            )[invoice.id]
            for key in ("friendly", "firm", "final", "suspended")
        ]
        self.assertEqual(mails.mapped("subject"), expected)
        final = mails[2]
        self.assertIn("2026-03-23", final.body_html, "the suspension date is announced")
        for mail in mails:
            self.assertIn(invoice.q2c_dunning_pay_url, mail.body_html)
            self.assertIn(invoice.q2c_dunning_payment_method_url, mail.body_html)

    def test_default_templates_by_position(self):
        """Reminder steps without a template get friendly, firm, final by position."""
        policy = self.env["q2c.dunning.policy"].create(
            {
                "name": "Three reminders",
                "step_ids": [
                    (0, 0, {"delay_days": days, "action": "send_reminder"}) for days in (2, 4, 6)
                ],
            }
        )
        self.customer.q2c_dunning_policy_id = policy
        __, invoice, __ = self._dun_failed_invoice()
        for n in (2, 4, 6):
            self._dun_run(self._day(n))
        expected = [
            self.env.ref(f"q2c_dunning.mail_template_dunning_{key}")._render_field(
                "subject", invoice.ids
            )[invoice.id]
            for key in ("friendly", "firm", "final")
        ]
        self.assertEqual(self._dun_mails(invoice).mapped("subject"), expected)

    def test_pre_due_reminder_once(self):
        self.policy.pre_due_days = 3
        sub = self._dun_subscription()
        invoice = self._dun_invoice(sub, due=self._day(10))
        self._dun_run(self._day(6))
        self.assertFalse(self._dun_mails(invoice))
        self._dun_run(self._day(7))
        mail = self._dun_mails(invoice)
        self.assertEqual(len(mail), 1)
        self.assertEqual(
            mail.subject,
            self.env.ref("q2c_dunning.mail_template_dunning_pre_due")._render_field(
                "subject", invoice.ids
            )[invoice.id],
        )
        self.assertEqual(mail.state, "outgoing")
        self.assertIn(invoice.q2c_dunning_pay_url, mail.body_html)
        self.assertEqual(invoice.q2c_dunning_pre_due_date, self._day(7))
        run = self.env["q2c.dunning.run"].search([], limit=1)
        self.assertEqual(run.pre_due, 1)
        self._dun_run(self._day(7))
        self._dun_run(self._day(9))
        self.assertEqual(len(self._dun_mails(invoice)), 1)

    def test_no_pre_due_reminder_for_automatic_payment(self):
        self.policy.pre_due_days = 3
        token = self._dun_token(self.customer, "done")
        sub = self._dun_subscription(token=token)
        invoice = self._dun_invoice(sub, due=self._day(10), post=False)
        invoice.action_post()  # scheduled for the automatic payment
        self._dun_run(self._day(8))
        self.assertFalse(self._dun_mails(invoice))

    def test_letter_pdf_content(self):
        self.company.external_report_layout_id = self.env.ref("web.external_layout_standard")
        __, invoice, __ = self._dun_failed_invoice()
        case = self._dun_case(invoice)
        html, report_type = self.env["ir.actions.report"]._render_qweb_html(
            "q2c_dunning.q2c_dunning_letter_report", case.ids
        )
        html = html.decode()
        self.assertEqual(report_type, "html")
        self.assertIn(invoice.name, html)
        self.assertIn(self.customer.name, html)
        self.assertIn(invoice.q2c_dunning_pay_url, html)
        self.assertIn(invoice.q2c_dunning_payment_method_url, html)
        self.assertIn("2026-03-23", html.replace("03/23/2026", "2026-03-23"))
        action = case.action_print_letter()
        self.assertEqual(action["report_name"], "q2c_dunning.report_dunning_letter")
