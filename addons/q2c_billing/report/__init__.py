from . import q2c_mrr_report
from . import q2c_usage_summary
