from . import test_install
from . import test_rating
from . import test_subscription_period
