from . import q2c_config_rule
from . import q2c_approval_rule
from . import q2c_quote_approval
from . import q2c_bundle_line
from . import product_template
from . import sale_order
from . import sale_order_line
from . import sale_order_template
