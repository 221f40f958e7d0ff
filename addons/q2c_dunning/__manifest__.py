{
    "name": "Q2C Dunning",
    "summary": "Payment retries, reminders, suspension, dunning runs and recovery analytics",
    "version": "18.0.1.0.0",
    "category": "Sales/Subscriptions",
    "website": "https://github.com/q2c-odoo/q2c",
    "author": "Q2C contributors",
    "license": "LGPL-3",
    "depends": ["q2c_billing"],
    "data": [
        "security/q2c_dunning_groups.xml",
        "security/ir.model.access.csv",
        "data/q2c_dunning_policy_data.xml",
        "views/q2c_dunning_menus.xml",
    ],
    "demo": [],
    "installable": True,
    "application": False,
}
