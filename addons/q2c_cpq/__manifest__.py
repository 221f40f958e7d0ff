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
        "views/q2c_cpq_menus.xml",
    ],
    "demo": [],
    "installable": True,
    "application": False,
}
