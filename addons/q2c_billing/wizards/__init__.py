from . import q2c_subscription_close_wizard
from . import q2c_saas_dashboard
