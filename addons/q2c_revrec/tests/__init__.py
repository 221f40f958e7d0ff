from . import (
    test_allocation,
    test_install,
    test_posting,
    test_sale_order,
    test_schedule,
    test_waterfall,
)
