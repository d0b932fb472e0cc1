"""Each agency's extract, built from the same people in its own schema and with its own noise."""
