{
    "name": "Q2C Billing",
    "summary": "Price plans, rating engine, subscriptions, usage metering, billing runs, proration, automatic payment, SaaS metrics and portal",
    "version": "18.0.1.0.0",
    "category": "Sales/Subscriptions",
    "website": "https://github.com/q2c-odoo/q2c",
    "author": "Q2C contributors",
    "license": "LGPL-3",
    "depends": ["sale_management", "account", "payment", "portal", "mail"],
    "data": [
        "security/q2c_billing_groups.xml",
        "security/ir.model.access.csv",
        "data/q2c_close_reason_data.xml",
        "views/q2c_close_reason_views.xml",
        "views/q2c_billing_menus.xml",
    ],
    "demo": [
        "demo/q2c_billing_demo.xml",
    ],
    "installable": True,
    "application": True,
}
