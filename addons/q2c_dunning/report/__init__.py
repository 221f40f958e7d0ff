from . import q2c_dunning_analysis
