from . import (
    test_access,
    test_analysis,
    test_hard_decline,
    test_install,
    test_mail,
    test_open_set_based,
    test_performance,
    test_policy,
    test_recovery,
    test_schedule,
)
