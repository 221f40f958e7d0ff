from . import (
    test_allocation,
    test_collectibility,
    test_install,
    test_modification,
    test_posting,
    test_reports,
    test_sale_order,
    test_schedule,
    test_ssp_suggestion,
    test_subscription,
    test_waterfall,
)
