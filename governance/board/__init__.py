"""The board's decisions, and the records that prove them.

Review, signed verdicts, approval and promotion, the model registry adapter and the
hash-chained audit log. Stands on :mod:`governance.contracts` only.
"""
