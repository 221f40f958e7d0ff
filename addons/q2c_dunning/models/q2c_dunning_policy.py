from odoo import _, api, fields, models
from odoo.exceptions import ValidationError


class Q2cDunningPolicy(models.Model):
    """A dunning schedule: what happens how many days after an automatic payment failed or an
    invoice fell due (``step_ids``), and the options around it.

    Which policy an invoice follows (first match wins): the customer's
    (``res.partner.q2c_dunning_policy_id``, per company), then the price plan's
    (``q2c.price.plan.dunning_policy_id``, the first line of the subscription that has one),
    then the company default: the first active policy by sequence of the invoice's company or
    shared by all companies.
    """

    _name = "q2c.dunning.policy"
    _description = "Dunning Policy"
    _order = "sequence, id"
    _check_company_auto = True

    name = fields.Char(required=True, translate=True)
    sequence = fields.Integer(default=10)
    active = fields.Boolean(default=True)
    company_id = fields.Many2one(
        "res.company",
        default=lambda self: self.env.company,
        index=True,
        help="Empty: the policy is shared by all companies.",
    )
    step_ids = fields.One2many("q2c.dunning.step", "policy_id", string="Steps", copy=True)
    step_count = fields.Integer(compute="_compute_step_count")
    pre_due_days = fields.Integer(
        string="Reminder Before Due (days)",
        default=0,
        help="Send a courtesy reminder this many days before an invoice falls due (0: none). "
        "Only for invoices that are not charged automatically.",
    )
    pre_due_template_id = fields.Many2one(
        "mail.template",
        string="Pre-Due Template",
        domain=[("model", "=", "account.move")],
        default=lambda self: self.env.ref(
            "q2c_dunning.mail_template_dunning_pre_due", raise_if_not_found=False
        ),
    )
    block_new_orders = fields.Boolean(
        help="While dunning keeps a subscription of a customer suspended, confirming a new "
        "sales order for this customer is refused.",
    )
    fee_product_id = fields.Many2one(
        "product.product",
        string="Dunning Fee",
        check_company=True,
        help="A product with a one-time price plan: its price is charged once per case on the "
        "subscription's next invoice. Empty: no fee.",
    )
    fee_delay_days = fields.Integer(
        string="Fee After (days)",
        default=14,
        help="The fee is charged this many days after the start of the case.",
    )
    open_case_count = fields.Integer(compute="_compute_open_case_count")

    # ------------------------------------------------------------------
    # Computes
    # ------------------------------------------------------------------

    @api.depends("step_ids")
    def _compute_step_count(self):
        for policy in self:
            policy.step_count = len(policy.step_ids)

    def _compute_open_case_count(self):
        counts = dict(
            self.env["q2c.dunning.case"]._read_group(
                [("policy_id", "in", self.ids), ("state", "in", ("open", "paused"))],
                ["policy_id"],
                ["__count"],
            )
        )
        for policy in self:
            policy.open_case_count = counts.get(policy, 0)

    # ------------------------------------------------------------------
    # Constraints
    # ------------------------------------------------------------------

    @api.constrains("pre_due_days", "fee_delay_days")
    def _check_days(self):
        for policy in self:
            if policy.pre_due_days < 0:
                raise ValidationError(
                    _(
                        "Dunning policy %(policy)s: the field 'Reminder Before Due' cannot be "
                        "negative (%(days)s days).",
                        policy=policy.name,
                        days=policy.pre_due_days,
                    )
                )
            if policy.fee_delay_days < 0:
                raise ValidationError(
                    _(
                        "Dunning policy %(policy)s: the field 'Fee After' cannot be negative "
                        "(%(days)s days).",
                        policy=policy.name,
                        days=policy.fee_delay_days,
                    )
                )

    # ------------------------------------------------------------------
    # CRUD
    # ------------------------------------------------------------------

    def write(self, vals):
        res = super().write(vals)
        if {"fee_product_id", "fee_delay_days", "active"} & set(vals):
            self._q2c_reschedule_cases()
        return res

    # ------------------------------------------------------------------
    # Business
    # ------------------------------------------------------------------

    def _q2c_sorted_steps(self):
        """The steps in the order they run: by delay, then sequence."""
        self.ensure_one()
        return self.step_ids.sorted(lambda step: (step.delay_days, step.sequence, step.id))

    def _q2c_reschedule_cases(self):
        """The policy changed: recompute the next action of its open cases."""
        cases = self.env["q2c.dunning.case"].search(
            [("policy_id", "in", self.ids), ("state", "=", "open")]
        )
        cases._q2c_reschedule()

    @api.model
    def _q2c_default_policy(self, company):
        """The company default: the first active policy by sequence of ``company`` or shared."""
        return self.search(
            [("company_id", "in", (company.id, False))], order="sequence, id", limit=1
        )

    @api.model
    def _q2c_policies_for(self, invoices):
        """``{invoice id: policy}`` by precedence: customer, then price plan, then company
        default (see the class docstring). Reads in batch."""
        result = {}
        defaults = {}
        # Invoices of the same customer, or billing the same subscriptions, share the
        # answer: each customer (per company) and each set of subscriptions is looked at once.
        by_partner = {}
        by_subscriptions = {}
        for invoice in invoices:
            company = invoice.company_id
            partner = invoice.commercial_partner_id
            if (partner.id, company.id) not in by_partner:
                by_partner[partner.id, company.id] = partner.with_company(
                    company
                ).q2c_dunning_policy_id
            policy = by_partner[partner.id, company.id]
            if not policy:
                subscriptions = invoice.invoice_line_ids.q2c_subscription_id
                if subscriptions not in by_subscriptions:
                    lines = subscriptions.line_ids.sorted(
                        lambda line: (line.subscription_id.id, line.sequence, line.id)
                    )
                    by_subscriptions[subscriptions] = next(
                        (
                            line.price_plan_id.dunning_policy_id
                            for line in lines
                            if line.price_plan_id.dunning_policy_id.active
                        ),
                        self,
                    )
                policy = by_subscriptions[subscriptions]
            if policy and policy.company_id and policy.company_id != company:
                policy = self
            if not policy:
                if company.id not in defaults:
                    defaults[company.id] = self._q2c_default_policy(company)
                policy = defaults[company.id]
            result[invoice.id] = policy
        return result
