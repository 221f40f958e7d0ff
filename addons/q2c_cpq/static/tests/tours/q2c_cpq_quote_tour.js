/** @odoo-module **/

import { waitUntil } from "@odoo/hoot-dom";
import { registry } from "@web/core/registry";
import { redirect } from "@web/core/utils/urls";
import tourUtils from "@sale/js/tours/tour_utils";

/**
 * Quote to subscription in three tours, run one after the other by
 * tests/test_quote_tours.py with the data it creates:
 * 1. the salesperson builds a quote that breaks a configuration rule, applies the suggested
 *    fix, gives a discount above the deal desk's limit and requests the approval;
 * 2. the sales manager approves it;
 * 3. the customer signs it on the portal (the subscription is checked in Python).
 */
registry.category("web_tour.tours").add("q2c_cpq_salesperson_quote", {
    url: "/odoo/sales/new",
    steps: () => [
        ...tourUtils.selectCustomer("Tara Tour Customer"),
        ...tourUtils.addProduct("Tour User Licence"),
        {
            content: "The configuration check shows the violation",
            trigger:
                ".o_q2c_config_issues .alert-danger:contains('User licences need the platform.')",
        },
        {
            content: "Apply the suggested fix",
            trigger: ".o_q2c_config_issues .alert-danger button:contains('Add Tour Platform')",
            run: "click",
        },
        {
            content: "The platform was added to the quote",
            trigger: ".o_field_one2many[name=order_line] .o_data_row:contains('Tour Platform')",
        },
        {
            content: "The violation is gone",
            trigger: ".o_form_view:not(:has(.o_q2c_config_issues .alert-danger))",
        },
        {
            content: "Edit the platform line",
            trigger:
                ".o_field_one2many[name=order_line] .o_data_row:contains('Tour Platform') td[name=discount]",
            run: "click",
        },
        {
            content: "Give 20% off (the deal desk allows 10%)",
            trigger: ".o_data_row.o_selected_row td[name=discount] input",
            run: "edit 20",
        },
        ...tourUtils.clickSomewhereElse(),
        {
            content: "Save the quote",
            trigger: ".o_form_button_save",
            run: "click",
        },
        {
            content: "The quote needs an approval",
            trigger: ".alert-warning:contains('This quote needs an approval')",
        },
        {
            content: "Request the approval",
            trigger: "button[name=action_q2c_request_approval]",
            run: "click",
        },
        {
            content: "The approval is requested",
            trigger: ".alert-warning:contains('Approval requested')",
        },
    ],
});

registry.category("web_tour.tours").add("q2c_cpq_manager_approval", {
    steps: () => [
        {
            content: "The quote waits for the manager",
            trigger: ".o_field_widget[name=q2c_approval_state]:contains('Pending')",
        },
        {
            content: "Approve",
            trigger: "button[name=action_q2c_approve]",
            run: "click",
        },
        {
            content: "Approved",
            trigger: ".o_field_widget[name=q2c_approval_state]:contains('Approved')",
        },
    ],
});

registry.category("web_tour.tours").add("q2c_cpq_customer_signature", {
    steps: () => [
        {
            content: "The approved quote can be signed",
            trigger: ".o_portal_sale_sidebar a:contains('Sign')",
            run: "click",
        },
        {
            content: "The signer's name is filled in",
            trigger: ".modal .o_web_sign_name_and_signature input:value(Tara Tour Customer)",
        },
        {
            content: "The signature is drawn from the name",
            trigger: ".modal canvas.o_web_sign_signature",
            async run(helpers) {
                await waitUntil(() => {
                    const canvas = helpers.anchor;
                    const context = canvas.getContext("2d");
                    const data = context.getImageData(0, 0, canvas.width, canvas.height);
                    return new Uint32Array(data.data.buffer).some((pixel) => pixel !== 0);
                });
            },
        },
        {
            content: "Accept and sign",
            trigger: ".modal .o_portal_sign_submit:enabled",
            run: "click",
            expectUnloadPage: true,
        },
        {
            content: "The order is confirmed",
            trigger: "#quote_content:contains('Thank You')",
        },
        {
            content: "Leave the page once it is loaded",
            trigger: "#quote_content",
            run() {
                redirect("/my");
            },
            expectUnloadPage: true,
        },
        {
            trigger: "nav",
        },
    ],
});
