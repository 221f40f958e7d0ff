import { Component } from "@odoo/owl";
import { registry } from "@web/core/registry";
import { useService } from "@web/core/utils/hooks";
import { standardFieldProps } from "@web/views/fields/standard_field_props";

/**
 * Shows the configuration rule violations and recommendations of a quote (the JSON computed by
 * sale.order._compute_q2c_config_issues), with a button per fixable issue: the quote is saved,
 * the fix is applied on the server (action_q2c_apply_fix) and the quote is reloaded.
 */
export class Q2cConfigIssuesField extends Component {
    static template = "q2c_cpq.ConfigIssuesField";
    static props = { ...standardFieldProps };

    setup() {
        this.orm = useService("orm");
    }

    get issues() {
        return this.props.record.data[this.props.name] || [];
    }

    get canFix() {
        return ["draft", "sent"].includes(this.props.record.data.state);
    }

    alertClass(issue) {
        if (issue.kind === "recommendation") {
            return "alert-info";
        }
        return issue.severity === "error" ? "alert-danger" : "alert-warning";
    }

    iconClass(issue) {
        if (issue.kind === "recommendation") {
            return "fa-lightbulb-o";
        }
        return issue.severity === "error" ? "fa-times-circle" : "fa-exclamation-triangle";
    }

    async applyFix(issue) {
        const record = this.props.record;
        if (!(await record.save())) {
            return;
        }
        try {
            await this.orm.call(record.resModel, "action_q2c_apply_fix", [[record.resId], issue.key]);
        } finally {
            await record.load();
        }
    }
}

export const q2cConfigIssuesField = {
    component: Q2cConfigIssuesField,
    supportedTypes: ["json"],
};

registry.category("fields").add("q2c_config_issues", q2cConfigIssuesField);
