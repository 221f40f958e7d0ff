"""Selections shared by the revenue recognition models (labels are translated by the ORM)."""

RECOGNITION_METHODS = [
    ("ratable_daily", "Ratable (daily)"),
    ("ratable_monthly", "Ratable (monthly)"),
    ("point_in_time", "Point in time"),
    ("usage", "As used"),
]
