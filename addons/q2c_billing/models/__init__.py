from . import q2c_close_reason
from . import q2c_usage_metric
from . import q2c_price_plan
from . import q2c_price_tier
from . import product_product
from . import product_template
