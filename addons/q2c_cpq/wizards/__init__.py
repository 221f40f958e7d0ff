from . import q2c_approval_reject_wizard
