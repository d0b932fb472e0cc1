"""``vru train``: temporal validation, LightGBM and a baseline, calibration, MLflow tracking."""
