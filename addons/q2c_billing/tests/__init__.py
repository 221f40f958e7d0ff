from . import test_install
from . import test_rating
from . import test_subscription_period
from . import test_subscription_lifecycle
from . import test_subscription_amendment
from . import test_billing_preview
from . import test_billing_run
from . import test_metrics
