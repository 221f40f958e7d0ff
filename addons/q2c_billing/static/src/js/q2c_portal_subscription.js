/** @odoo-module **/

import publicWidget from "@web/legacy/js/public/public_widget";
import { rpc } from "@web/core/network/rpc";
import { _t } from "@web/core/l10n/translation";
import { debounce } from "@web/core/utils/timing";

/**
 * Live preview of a quantity or plan change in the subscription portal: as the customer edits
 * the form, the prorated amounts of the change (preview_change, pure) are shown under it. The
 * form still posts to the server-rendered preview, which must be confirmed.
 */
publicWidget.registry.Q2cSubscriptionChange = publicWidget.Widget.extend({
    selector: ".o_q2c_change_form",
    events: {
        "input .o_q2c_quantity_input": "_onChange",
        "change .o_q2c_quantity_input": "_onChange",
        "change .o_q2c_plan_select": "_onChange",
    },

    init() {
        this._super(...arguments);
        this._onChange = debounce(this._onChange.bind(this), 250);
    },

    async _onChange() {
        const data = new FormData(this.el);
        const target = this.el.querySelector(".o_q2c_live_preview");
        const params = {
            line_id: data.get("line_id"),
            quantity: data.get("quantity"),
            price_plan_id: data.get("price_plan_id"),
        };
        if (this.el.dataset.accessToken) {
            params.access_token = this.el.dataset.accessToken;
        }
        const result = await rpc(
            `/my/subscriptions/${this.el.dataset.subscriptionId}/change/preview.json`,
            params
        );
        if (result.error) {
            target.textContent = result.error;
            return;
        }
        const preview = result.preview;
        target.textContent = _t("Due now: %(net)s; new amount per period: %(recurring)s", {
            net: this._format(preview.net, preview.currency),
            recurring: this._format(preview.new_recurring_total, preview.currency),
        });
    },

    _format(amount, currencyName) {
        return `${amount.toFixed(2)} ${currencyName}`;
    },
});

export default publicWidget.registry.Q2cSubscriptionChange;
