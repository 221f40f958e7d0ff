/** @odoo-module **/

import { registry } from "@web/core/registry";

/**
 * Customer portal: view a subscription, change a quantity after its prorated preview.
 */
registry.category("web_tour.tours").add("q2c_portal_subscription_change", {
    url: "/my/subscriptions",
    steps: () => [
        {
            content: "Open the subscription from the list",
            trigger: ".o_q2c_portal_subscription_row a",
            run: "click",
            expectUnloadPage: true,
        },
        {
            content: "The page shows the lines, the next invoice and the invoices",
            trigger: "#q2c_subscription_lines tr.o_q2c_line_row:contains('Seat')",
        },
        {
            content: "Next invoice with its amount",
            trigger: "#q2c_subscription_next_invoice .o_q2c_next_invoice_total",
        },
        {
            content: "The payment method",
            trigger: "#q2c_sidebar_payment_method .o_q2c_payment_method:contains('4242')",
        },
        {
            content: "The invoices",
            trigger: "#q2c_subscription_invoices tr.o_q2c_invoice_row",
        },
        {
            content: "Change the seats",
            trigger: "tr.o_q2c_line_row:contains('Seat') .o_q2c_change_btn",
            run: "click",
        },
        {
            content: "Type the new quantity",
            trigger: ".o_q2c_change_row.show .o_q2c_quantity_input",
            run: "edit 8",
        },
        {
            content: "The live preview shows the amounts",
            trigger: ".o_q2c_change_row.show .o_q2c_live_preview:contains('Due now')",
        },
        {
            content: "Preview the change",
            trigger: ".o_q2c_change_row.show .o_q2c_preview_btn",
            run: "click",
            expectUnloadPage: true,
        },
        {
            content: "The prorated lines are shown before confirming",
            trigger: "#q2c_change_preview .o_q2c_preview_line:contains('Remaining time')",
        },
        {
            content: "The new quantity is shown",
            trigger: "#q2c_change_preview .o_q2c_change_quantity:contains('8')",
        },
        {
            content: "Confirm",
            trigger: ".o_q2c_confirm_change",
            run: "click",
            expectUnloadPage: true,
        },
        {
            content: "Changed",
            trigger: ".o_q2c_portal_message:contains('has been changed')",
        },
        {
            content: "The line has the new quantity",
            trigger: "tr.o_q2c_line_row:contains('Seat') .o_q2c_line_quantity:contains('8')",
        },
    ],
});

/**
 * Customer portal: replace the payment method through the provider's own form (demo).
 */
registry.category("web_tour.tours").add("q2c_portal_replace_payment_method", {
    steps: () => [
        {
            content: "Replace the payment method",
            trigger: ".o_q2c_replace_payment_method",
            run: "click",
            expectUnloadPage: true,
        },
        {
            content: "Show the other payment methods",
            trigger: "button[name='o_payment_expand_button']",
            run: "click",
        },
        {
            content: "Choose a new demo card",
            trigger: "input[name='o_payment_radio'][data-payment-method-code='demo']",
            run: "click",
        },
        {
            content: "Type the card number (sent to the provider, never stored)",
            trigger: "#customer_input",
            run: "edit 4111111111111111",
        },
        {
            // The provider's flow goes through the payment status page, then back (no
            // expectUnloadPage: the next step waits across those pages, however slow).
            content: "Save it",
            trigger: "button[name='o_payment_submit_button']:enabled",
            run: "click",
        },
        {
            content: "Back on the subscription with the new payment method",
            trigger: ".o_q2c_portal_message:contains('payment method has been saved')",
            timeout: 60000,
        },
        {
            content: "The new card is the subscription's",
            trigger: "#q2c_sidebar_payment_method .o_q2c_payment_method:contains('1111')",
        },
    ],
});

/**
 * Customer portal: pay an invoice whose automatic payment failed (Odoo's invoice payment).
 */
registry.category("web_tour.tours").add("q2c_portal_pay_failed_invoice", {
    steps: () => [
        {
            content: "The subscription shows the failed payment",
            trigger: ".o_q2c_payment_failed_banner:contains('Your payment failed')",
        },
        {
            content: "Pay the invoice",
            trigger: ".o_q2c_pay_failed_invoice",
            run: "click",
            expectUnloadPage: true,
        },
        {
            content: "Open the payment dialog of the invoice",
            trigger: "a[data-bs-target='#pay_with']",
            run: "click",
        },
        {
            content: "Choose the demo provider",
            trigger: "#pay_with input[name='o_payment_radio'][data-payment-method-code='demo']",
            run: "click",
        },
        {
            content: "Type the card number",
            trigger: "#pay_with #customer_input",
            run: "edit 4000000000000077",
        },
        {
            // Through the payment status page back to the invoice (see above).
            content: "Pay",
            trigger: "#pay_with button[name='o_payment_submit_button']:enabled",
            run: "click",
        },
        {
            content: "The invoice is paid",
            trigger: ".badge:contains('Paid')",
            timeout: 60000,
        },
    ],
});
