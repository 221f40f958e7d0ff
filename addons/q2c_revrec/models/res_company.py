from odoo import _, fields, models


class ResCompany(models.Model):
    _inherit = "res.company"

    q2c_deferred_revenue_account_id = fields.Many2one(
        "account.account",
        string="Deferred Revenue Account",
        check_company=True,
        help="Default contract liability account (a product category may set its own).",
    )
    q2c_unbilled_revenue_account_id = fields.Many2one(
        "account.account",
        string="Unbilled Revenue Account",
        check_company=True,
        help="Default contract asset account (a product category may set its own).",
    )
    q2c_revrec_journal_id = fields.Many2one(
        "account.journal",
        string="Revenue Recognition Journal",
        check_company=True,
        domain="[('type', '=', 'general')]",
        help="Journal of the entries posted by the revenue recognition run.",
    )

    q2c_revrec_hold_doubtful = fields.Boolean(
        string="Hold Revenue of Doubtful Invoices",
        help="The recognition run skips the contracts with an invoice flagged doubtful of "
        "collection by dunning (q2c_dunning), until it is collectible again.",
    )
    q2c_revrec_combine_days = fields.Integer(
        string="Combine Contracts Within (days)",
        default=0,
        help="Propose to combine the revenue contracts of one customer dated within this many "
        "days of each other (ASC 606-10-25-9, IFRS 15.17: negotiated as a package or with "
        "interdependent prices). 0: no proposal.",
    )
    q2c_revrec_renewal_policy = fields.Selection(
        [
            ("separate", "Separate contract for each renewal term"),
            ("prospective", "Extend the contract prospectively"),
        ],
        string="Subscription Renewals",
        default="separate",
        required=True,
        help="Revenue of a renewed subscription term (automatic renewal or renewal quote): a "
        "new revenue contract for the term, or a prospective modification of the current one "
        "extending its obligations with the renewal consideration.",
    )

    def _q2c_revrec_setup_defaults(self):
        """Give companies with a chart of accounts a journal and the two contract accounts.

        Existing settings are kept. The generic chart's Deferred Revenue account is reused when
        there is one; otherwise the accounts are created next to the current liability and
        asset accounts.
        """
        Account = self.env["account.account"].sudo()  # sudo: install/chart-load time setup
        for company in self.sudo():
            if not company.chart_template:
                continue
            company = company.with_company(company)
            vals = {}
            root = company.root_id
            if root != company:  # a branch shares the accounts of its root company
                vals["q2c_deferred_revenue_account_id"] = root.q2c_deferred_revenue_account_id.id
                vals["q2c_unbilled_revenue_account_id"] = root.q2c_unbilled_revenue_account_id.id
                vals = {k: v for k, v in vals.items() if v and not company[k]}
            if not company.q2c_deferred_revenue_account_id:
                account = (
                    self.env["account.chart.template"]
                    .with_company(company)
                    .ref("deferred_revenue", raise_if_not_found=False)
                )
                vals["q2c_deferred_revenue_account_id"] = (
                    account
                    or company._q2c_revrec_create_account(
                        Account,
                        _("Deferred Revenue (Contract Liability)"),
                        "liability_current",
                        "2125",
                    )
                ).id
            if not company.q2c_unbilled_revenue_account_id:
                vals["q2c_unbilled_revenue_account_id"] = company._q2c_revrec_create_account(
                    Account, _("Unbilled Revenue (Contract Asset)"), "asset_current", "1215"
                ).id
            if not company.q2c_revrec_journal_id:
                vals["q2c_revrec_journal_id"] = company._q2c_revrec_create_journal().id
            if vals:
                company.write(vals)

    def _q2c_revrec_create_account(self, Account, name, account_type, code_hint):
        self.ensure_one()
        Account = Account.with_company(self)
        model = Account.search(
            [*Account._check_company_domain(self), ("account_type", "=", account_type)],
            order="code desc",
            limit=1,
        )
        start = model.code if model else code_hint
        code = Account._search_new_account_code(start)
        return Account.create(
            {"name": name, "code": code, "account_type": account_type, "company_ids": [self.id]}
        )

    def _q2c_revrec_create_journal(self):
        self.ensure_one()
        Journal = self.env["account.journal"].sudo().with_company(self)
        code, n = "REVR", 1
        while Journal.search_count([("company_id", "=", self.id), ("code", "=", code)]):
            n += 1
            code = f"REV{n}"
        return Journal.create(
            {
                "name": _("Revenue Recognition"),
                "code": code,
                "type": "general",
                "company_id": self.id,
            }
        )
