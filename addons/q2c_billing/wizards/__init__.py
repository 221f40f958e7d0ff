from . import q2c_subscription_close_wizard
