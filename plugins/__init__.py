"""Built-in model plugins, installed as ``harness.plugins``."""
