{
    "name": "Q2C CPQ",
    "summary": "Configuration rules, approvals, quote types, quote previews and quote-to-subscription",
    "version": "18.0.1.0.0",
    "category": "Sales/Sales",
    "website": "https://github.com/q2c-odoo/q2c",
    "author": "Q2C contributors",
    "license": "LGPL-3",
    "depends": ["q2c_billing", "sale_management"],
    "data": [
        "security/q2c_cpq_groups.xml",
        "security/ir.model.access.csv",
        "security/q2c_cpq_security.xml",
        "data/mail_activity_type_data.xml",
        "report/q2c_quote_templates.xml",
        "wizards/q2c_approval_reject_wizard_views.xml",
        "views/product_template_views.xml",
        "views/sale_order_views.xml",
        "views/sale_order_template_views.xml",
        "views/sale_portal_templates.xml",
        "views/q2c_cpq_menus.xml",
    ],
    "assets": {
        "web.assets_backend": [
            "q2c_cpq/static/src/components/**/*",
        ],
        "web.assets_tests": [
            "q2c_cpq/static/tests/tours/*.js",
        ],
    },
    "demo": [],
    "installable": True,
    "application": False,
}
