from . import q2c_revrec_modify_wizard
