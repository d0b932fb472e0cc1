"""Governance: the base layer of vru-risk.

Shared contracts (configuration loading, errors, data layout), and later the audit,
review, promotion gates, disclosure control and the audit log. Imports neither
``training`` nor ``serving``.
"""
