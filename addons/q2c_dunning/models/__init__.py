from . import (
    account_move,
    mail_template,
    q2c_dunning_case,
    q2c_dunning_case_log,
    q2c_dunning_policy,
    q2c_dunning_run,
    q2c_dunning_step,
    q2c_price_plan,
    q2c_subscription,
    res_partner,
    sale_order,
)
from . import q2c_demo_generator
