"""What vLLM's model is fed, read inside vLLM's worker process (``LLM.apply_model``, which pickles these
functions by reference: they live in an importable module, and the engine needs
``VLLM_ALLOW_INSECURE_SERIALIZATION=1`` to send them).

:func:`watch` hooks the model: the first call of its vision tower records the pixel values and the grid it
is given (after vLLM's own processing and any on-device normalization: exactly what the tower computes
from), and the first forward records the positions (M-RoPE: three rows) of the tokens it runs. A prompt
the engine has seen before hits its prefix and encoder caches and is not recomputed: probe a new one.
:func:`collect` removes the hooks and returns what was recorded, pickled (vLLM's own serializer does not
rebuild tensors nested in a returned dict).
"""

from __future__ import annotations

import pickle

_seen: dict = {}
_hooks: list = []


def watch(model) -> str:
    import torch

    _seen.clear()

    def tower(module, args, kwargs):
        if "pixels" in _seen:
            return
        _seen["pixels"] = args[0].detach().to("cpu", copy=True)
        grid = kwargs.get("grid_thw", args[1] if len(args) > 1 else None)
        _seen["grid"] = grid.tolist() if isinstance(grid, torch.Tensor) else [list(g) for g in grid]

    def norm(module, args, output):
        _seen.setdefault("normalized", output.detach().to("cpu", copy=True))

    def forward(module, args, kwargs):
        positions = kwargs.get("positions", args[1] if len(args) > 1 else None)
        if "positions" not in _seen and positions is not None:
            _seen["positions"] = positions.detach().to("cpu", copy=True)

    visual = model.visual
    _hooks.append(visual.register_forward_pre_hook(tower, with_kwargs=True))
    if getattr(visual, "input_norm", None) is not None:  # vLLM's on-device normalization, where it is on
        _hooks.append(visual.input_norm.register_forward_hook(norm))
    _hooks.append(model.register_forward_pre_hook(forward, with_kwargs=True))
    return type(model).__name__


def collect(model) -> bytes:
    while _hooks:
        _hooks.pop().remove()
    seen = dict(_seen)
    _seen.clear()
    return pickle.dumps(seen)
