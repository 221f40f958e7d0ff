from . import q2c_close_reason
