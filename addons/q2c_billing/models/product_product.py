from odoo import fields, models


class ProductProduct(models.Model):
    _inherit = "product.product"

    q2c_price_plan_ids = fields.One2many("q2c.price.plan", "product_id", string="Price Plans")

    def _q2c_get_price_plan(
        self, partner=None, currency=None, pricelist=None, charge_type=None, date=None
    ):
        """Return the price plan that applies to this product, or an empty recordset.

        Candidates: active plans of the product in the current company (or shared), valid on
        ``date`` (default today), of ``charge_type`` when given. A plan for another customer
        or another pricelist is never a candidate. Among the candidates, in this order:

        1. the plan in ``currency`` (default: the pricelist's currency, else the company's);
           plans in other currencies are a fallback only;
        2. the most specific: customer override (``partner_id`` is ``partner`` or its
           commercial entity) > pricelist override (``pricelist_id`` is ``pricelist``,
           default: the pricelist of the partner's commercial entity) > generic plan;
        3. a plan of the current company before a shared one, then ``sequence``, then id.

        :param partner: ``res.partner`` record (or id) of the customer
        :param currency: ``res.currency`` record (or id) wanted
        :param pricelist: ``product.pricelist`` record (or id)
        :param charge_type: ``recurring``, ``usage`` or ``one_time``
        :param date: ``date`` or ISO string; validity dates are inclusive
        :return: ``q2c.price.plan`` record (at most one)
        """
        self.ensure_one()
        Plan = self.env["q2c.price.plan"]
        partner = self.env["res.partner"].browse(getattr(partner, "id", partner) or [])
        pricelist = self.env["product.pricelist"].browse(getattr(pricelist, "id", pricelist) or [])
        currency = self.env["res.currency"].browse(getattr(currency, "id", currency) or [])
        if not pricelist and partner:
            pricelist = partner.commercial_partner_id.property_product_pricelist
        if not currency:
            currency = pricelist.currency_id or self.env.company.currency_id
        date = fields.Date.to_date(date) or fields.Date.context_today(self)

        domain = [
            ("product_id", "=", self.id),
            ("company_id", "in", [False, self.env.company.id]),
            "|",
            ("date_start", "=", False),
            ("date_start", "<=", date),
            "|",
            ("date_end", "=", False),
            ("date_end", ">=", date),
            ("partner_id", "in", [False, *partner.ids, *partner.commercial_partner_id.ids]),
            ("pricelist_id", "in", [False, *pricelist.ids]),
        ]
        if charge_type:
            domain.append(("charge_type", "=", charge_type))
        plans = Plan.search(domain)
        if not plans:
            return Plan

        def preference(plan):
            if plan.partner_id:
                specificity = 0
            elif plan.pricelist_id:
                specificity = 1
            else:
                specificity = 2
            return (
                plan.currency_id != currency,
                specificity,
                not plan.company_id,
                plan.sequence,
                plan.id,
            )

        return plans.sorted(preference)[:1]
