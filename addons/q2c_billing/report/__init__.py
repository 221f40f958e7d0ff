from . import q2c_usage_summary
from . import q2c_mrr_report
