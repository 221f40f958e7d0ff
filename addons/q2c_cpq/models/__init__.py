from . import q2c_config_rule
from . import q2c_approval_rule
