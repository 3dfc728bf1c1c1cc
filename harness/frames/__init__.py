"""The frame pipeline: decode a clip once (``video``, ``folder``), choose its frames (``sampling``),
keep them (``cache``), and decide what a model is told about their time (``time_told``)."""
