"""Serving: the FastAPI service and pages. It serves area-level releases only.

It imports no model library and reads no individual-level data (import-linter enforces it).
The service arrives with its issue.
"""
