from . import test_install
from . import test_config_rules
from . import test_bundles
from . import test_approvals
from . import test_portal
from . import test_pricing
