"""``vru features``: as-of-date cohorts, risk-factor features and labels from the linked spine."""
