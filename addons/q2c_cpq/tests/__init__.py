from . import (
    test_approvals,
    test_bundles,
    test_config_rules,
    test_install,
    test_portal,
    test_pricing,
    test_quote_document,
    test_quote_tours,
    test_quote_types,
    test_ramps,
)
