"""The audit of a model version or of a scored table.

Fairness, group performance, mitigations, explanations, proxies, drift, gates, the model
card and the board's report. Stands on :mod:`governance.board` and
:mod:`governance.contracts`; serving never imports it.
"""
