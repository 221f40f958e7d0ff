from . import (
    q2c_revrec_deferred_rollforward,
    q2c_revrec_reconciliation,
    q2c_revrec_rpo,
)
