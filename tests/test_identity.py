"""Every model argument that can change an answer is in the model's identity.

The identity is the response cache's key and the leaderboard row's: an argument missing from it
answers a changed run from the old run's cache (issue 32: ``top_logprobs=400`` was answered from the
``top_logprobs=20`` run). One generic test over each built-in model plugin's declared parameters:
changing any one of them changes the identity, unless it is declared ``answers=False``.
"""

from __future__ import annotations

import pytest

from harness import host as host_module
from harness.errors import UsageError

pytest.importorskip("transformers")

# A value other than the base's for parameters whose type alone does not give a valid one.
VALUES = {
    "mode": "generate", "video_input": "images", "pixels": "native", "dtype": "float16",
    "revision": "0123abc", "attn_implementation": "eager", "family": "qwen3-vl", "trained_on": "zero-shot",
    "mm_processor_kwargs": '{"max_pixels": 1000}', "video": "images", "model": "another-served-name",
    "audio": "input_audio", "audio_rate": 16000,
}
# Arguments that only make sense together with others: (what the changed run adds, what its baseline is given).
WITH = {"audio": ({"audio_rate": 16000}, {}),
        "audio_rate": ({"audio": "input_audio"}, {"audio": "input_audio", "audio_rate": 8000})}
BASE = {"mode": "score"}  # score mode reads every argument that generate mode does, and the score-only ones
REFUSED = {"structured"}  # replaced by --answer-format: refused with the fix, never part of a run


def _other(name, param, base):
    if name in VALUES and VALUES[name] != base.get(name):
        return VALUES[name]
    if param.choices:
        return next(c for c in param.choices if c != base.get(name))
    if param.type is bool:
        return not base.get(name, name in ("vllm_fields",))  # vllm_fields defaults to true
    if param.type is int:
        return 7
    if param.type is float:
        return 0.37
    return "something-else"


@pytest.fixture(scope="module")
def plugins(tmp_path_factory):
    from harness.testing.checkpoints import build
    twin = build("qwen2.5-vl", tmp_path_factory.mktemp("identity") / "twin")
    host = host_module.load([])
    return host, {"hf": {"pretrained": str(twin)}, "vllm": {"pretrained": str(twin)},
                  "openai-server": {"base_url": "http://127.0.0.1:9/v1", "model": "m"},
                  "vllm-server": {"base_url": "http://127.0.0.1:9/v1", "model": "m"}}


@pytest.mark.parametrize("plugin", ["hf", "vllm", "openai-server", "vllm-server"])
def test_every_argument_that_can_change_an_answer_changes_the_identity(plugins, plugin):
    host, required = plugins
    entry = host.models[plugin]
    base = {**required[plugin], **BASE}
    reference = host.build("model", plugin, base).identity()
    checked, missing = [], []
    for name, param in entry.params.items():
        if name in REFUSED or name in required[plugin] or not param.answers:
            continue
        extra, against = WITH.get(name, ({}, None))
        changed = {**base, **extra, name: _other(name, param, base)}
        try:
            identity = host.build("model", plugin, changed).identity()
        except UsageError as exc:  # a value this test chose badly is its bug, not the plugin's
            pytest.fail(f"{plugin}: {name}={changed[name]!r} refused: {exc}")
        baseline = host.build("model", plugin, {**base, **against}).identity() if against else reference
        checked.append(name)
        if identity == baseline:
            missing.append(name)
    assert not missing, f"{plugin}: arguments that can change an answer but not the identity: {missing}"
    assert len(checked) >= 5, checked  # the test saw the plugin's parameters


def test_the_required_checkpoint_or_served_model_is_the_identity(plugins):
    host, required = plugins
    a = host.build("model", "openai-server", {**required["openai-server"]}).identity()
    b = host.build("model", "openai-server", {**required["openai-server"], "model": "other"}).identity()
    assert a != b
