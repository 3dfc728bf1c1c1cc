"""A plugin that fails at import time, as a buggy third-party package would."""
raise RuntimeError("this plugin is broken on purpose")
