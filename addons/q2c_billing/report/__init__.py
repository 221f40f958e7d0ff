from . import q2c_mrr_report
