from . import q2c_subscription_close_wizard
from . import q2c_saas_dashboard
from . import q2c_subscription_amend_wizard
