"""Training side of vru-risk: generate, link, features, train, release (batch scoring).

Individual-level data lives only here. Nothing in this package is imported by ``serving``.
"""
