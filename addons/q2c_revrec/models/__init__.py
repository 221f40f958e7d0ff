from . import q2c_ssp
