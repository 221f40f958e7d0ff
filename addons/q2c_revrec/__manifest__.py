{
    "name": "Q2C Revenue Recognition",
    "summary": "ASC 606 / IFRS 15 revenue recognition: obligations, SSP allocation, schedules, GL postings and reports",
    "version": "18.0.1.0.0",
    "category": "Accounting/Accounting",
    "website": "https://github.com/q2c-odoo/q2c",
    "author": "Q2C contributors",
    "license": "LGPL-3",
    "depends": ["q2c_billing", "account"],
    "data": [
        "security/q2c_revrec_groups.xml",
        "security/ir.model.access.csv",
        "views/q2c_revrec_menus.xml",
    ],
    "demo": [],
    "installable": True,
    "application": False,
}
