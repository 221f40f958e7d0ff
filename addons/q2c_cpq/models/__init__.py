from . import (
    product_template,
    q2c_approval_rule,
    q2c_bundle_line,
    q2c_config_rule,
    q2c_quote_approval,
    q2c_ramp_step,
    sale_order,
    sale_order_line,
    sale_order_template,
)
from . import q2c_demo_generator
