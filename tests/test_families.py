"""Every family adapter on its tiny random twin: the frames arrive exactly, the times told are the
timing contract's, both modes run, and batching changes nothing.

The twins (``harness.testing.twins``) are the families' real model, processor and tokenizer
classes at toy sizes, built once per session and loaded through ``from_pretrained``. The Qwen
line has its own tests (``tests/test_hf.py``, ``tests/test_timing.py``).
"""

from __future__ import annotations

import json
import re
from datetime import timedelta

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the hf extra is part of the test install (make test)")

from harness import request_rules  # noqa: E402
from harness.frames import time_told  # noqa: E402
from harness.frames.video import read_frames  # noqa: E402
from harness.plugins import families  # noqa: E402
from harness.plugins.hf import HFModel  # noqa: E402
from harness.prompts import NAMES  # noqa: E402
from harness.testing import twins  # noqa: E402
from harness.testing.clips import variable_times, write_timed  # noqa: E402
from harness.types import FrameProtocol, Frames, Request  # noqa: E402
from tests.conftest import read_results  # noqa: E402
from tests.hf_reference import reference_choice_scores  # noqa: E402

CLASSES = ("happy", "sad", "neutral")
FAMILIES = twins.FAMILIES


def _needs(family: str) -> None:
    if family == "smolvlm":
        pytest.importorskip("num2words", reason="SmolVLM's processor writes frame counts in words (num2words)")
    if family == "perception-lm":
        pytest.importorskip("timm", reason="PerceptionLM's vision tower is a timm model")


@pytest.fixture(scope="session")
def twin_dirs(tmp_path_factory):
    """Every family's twin, built once for the session."""
    root = tmp_path_factory.mktemp("twins")
    out = {}
    for family in FAMILIES:
        try:
            _needs(family)
        except pytest.skip.Exception:
            continue  # its own tests skip, saying why
        out[family] = twins.build(family, root / family)
    return out


@pytest.fixture(scope="session")
def twin_models(twin_dirs):
    """One score-mode model per family, loaded on first use."""
    cache: dict[str, HFModel] = {}

    def get(family: str) -> HFModel:
        _needs(family)
        if family not in cache:
            cache[family] = HFModel({"pretrained": str(twin_dirs[family]), "mode": "score"})
            cache[family]._load()
        return cache[family]
    return get


@pytest.fixture(scope="session")
def vfr_clip(tmp_path_factory):
    """A variable-frame-rate clip (gaps of 20, 40 and 80 ms) whose decoded times are the truth."""
    path = str(tmp_path_factory.mktemp("vfr") / "vfr.mp4")
    write_timed(path, variable_times(60, seed=0))
    return path


def resolve(model: HFModel, frames: Frames, mode: str = "score") -> Request:
    request = Request(sample_id="x", frames=frames, messages=NAMES.render(CLASSES), choices=CLASSES)
    return request_rules.resolve(request, model, mode)


def ask(model: HFModel, requests: list[Request], mode: str):
    return model.predict([request_rules.resolve(r, model, mode) for r in requests])


# -- the twins --------------------------------------------------------------------------------------

@pytest.mark.parametrize("family", FAMILIES)
def test_twins_are_small_and_load_through_the_real_classes(twin_dirs, family):
    from transformers import AutoConfig, AutoProcessor

    _needs(family)
    path = twin_dirs[family]
    assert sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) < 2_000_000
    adapter = families.get(family)
    assert AutoConfig.from_pretrained(path).model_type in adapter.model_types
    assert adapter.tested and families.for_model_type(adapter.model_types[0]) is adapter
    assert twins.LOADERS.get(family, "AutoModelForImageTextToText") == adapter.loader
    # what the core tells the family is declared in one place, and the adapter agrees with it
    assert all(time_told.family_of(t) == adapter.time for t in adapter.model_types)
    processor = AutoProcessor.from_pretrained(path)
    assert processor.chat_template and processor.video_processor is not None
    assert json.loads((path / "harness_tiny.json").read_text())["family"] == family


def test_every_family_has_a_twin_and_presets_name_their_family():
    assert set(FAMILIES) | {"qwen2-vl", "qwen2.5-vl", "qwen3-vl"} == {f.name for f in families.FAMILIES.values()
                                                                        if f.tested}
    for name, (hub_id, family) in families.presets().items():
        assert "/" in hub_id and families.guess(hub_id) in (family, None), name


# -- frames: count, order and pixels ----------------------------------------------------------------

COLOURS = [(30 + 25 * j, 200 - 20 * j, 90 + 10 * j) for j in range(8)]


def coloured(order: list[int], side: int = 56) -> Frames:
    """Frames of one flat colour each (frame j: COLOURS[j]), shown in ``order``."""
    array = np.stack([np.full((side, side, 3), COLOURS[j], np.uint8) for j in order])
    times = [j * 0.25 for j in order]
    return Frames(array=array, indices=list(order), timestamps=times, fps=4.0, total_frames=8, duration=2.0)


def frame_colours(family: str, inputs, processor) -> np.ndarray:
    """The colour of every frame the model receives, read back from the processor's output tensors
    (per frame: the median over its pixels, normalisation undone)."""
    video = processor.video_processor
    if family == "internvl":
        per_frame = inputs["pixel_values"].flatten(2)  # (frames, C, H*W)
    elif family in ("videollama3", "glm4v", "qwen2.5-omni", "qwen3-omni"):  # flattened (C, t, patch, patch) rows, frame-major
        t, h, w = inputs["video_grid_thw"][0].tolist()
        tp = video.temporal_patch_size
        rows = inputs["pixel_values_videos"].reshape(t, h * w, 3, tp, -1)
        per_frame = rows.permute(0, 3, 2, 1, 4).reshape(t * tp, 3, -1)
    elif family == "molmo2":  # (frames, patches, patch x patch x C)
        per_frame = inputs["pixel_values_videos"].reshape(len(inputs["pixel_values_videos"]), -1, 3).transpose(1, 2)
    elif family == "minicpm-v":  # (1, C, patch, frames x patches x patch): every frame's patches side by side
        pixels = inputs["pixel_values_videos"][0]
        frames = len(inputs["target_sizes_videos"])
        per_frame = pixels.reshape(3, pixels.shape[1], frames, -1).permute(2, 0, 1, 3).reshape(frames, 3, -1)
    elif family == "gemma4":  # (frames, patches, patch x patch x C), padded with patches at position -1
        pixels, positions = inputs["pixel_values_videos"], inputs["video_position_ids"]
        frames = [pixels[f][positions[f, :, 0] >= 0].reshape(-1, 3).T for f in range(len(pixels))]
        per_frame = torch.stack([f[:, : min(len(x[0]) for x in frames)] for f in frames])
    else:
        key = "pixel_values" if family == "smolvlm" else "pixel_values_videos"
        per_frame = inputs[key][0].flatten(2)  # (frames, C, H*W)
    values = per_frame.median(dim=2).values.numpy()
    mean, std = np.array(video.image_mean), np.array(video.image_std)
    return (values * std + mean) / video.rescale_factor


@pytest.mark.parametrize("family", FAMILIES)
def test_the_model_receives_exactly_the_protocols_frames(twin_models, family):
    model = twin_models(family)
    for order in ([0, 1, 2, 3], [3, 1, 0, 2, 5, 4]):
        request = resolve(model, coloured(order))
        inputs = model.model_inputs([request])
        got = frame_colours(family, inputs, model.processor)
        np.testing.assert_allclose(got, [COLOURS[j] for j in order], atol=1.5)  # count, order and pixels


# -- time: what each family is told -----------------------------------------------------------------

def _mmss(t: float) -> str:
    return f"{int(t // 60):02d}:{int(t % 60):02d}"


# family -> (what its prompt shows, read back; the same rendered from the told times)
PROMPT_TIMES = {
    "smolvlm": (lambda text: re.findall(r"Frame from (\d\d:\d\d):", text), lambda told: [_mmss(t) for t in told.times]),
    "videollama3": (lambda text: re.findall(r"Time ([\d.]+)s:", text), lambda told: [f"{t:.1f}" for t in told.times]),
    "gemma4": (lambda text: re.findall(r"(\d\d:\d\d) <\|image>", text), lambda told: [_mmss(t) for t in told.times]),
    "molmo2": (lambda text: re.findall(r"([\d.]+) <frame_start>", text), lambda told: [f"{t:.1f}" for t in told.times]),
    "glm4v": (lambda text: re.findall(r"<\|end_of_image\|>(\d+)", text),
              lambda told: [str(int(t)) for t in told.times[::2]]),
}


def prompt_text(model: HFModel, request: Request) -> str:
    return model.tokenizer.decode(model.model_inputs([request])["input_ids"][0])


@pytest.mark.parametrize("family", FAMILIES)
def test_each_family_is_told_the_contracts_times_in_natural_order(twin_models, vfr_clip, family):
    model = twin_models(family)
    adapter = families.get(family)
    assert model.time_family() == adapter.time
    natural = resolve(model, read_frames(vfr_clip, FrameProtocol(num_frames=8), "c"))
    told = natural.told
    assert told == time_told.tell(natural.frames, adapter.time)
    texts = [prompt_text(model, natural)]
    for order in ("reversed", "shuffled"):
        permuted = resolve(model, read_frames(vfr_clip, FrameProtocol(num_frames=8, order=order, seed=2), "c"))
        assert permuted.frames.indices != natural.frames.indices
        assert permuted.told == told  # told a natural clip at the sampled spacing
        texts.append(prompt_text(model, permuted))
    if family in PROMPT_TIMES:
        shown, rendered = PROMPT_TIMES[family]
        assert told.conveys_time and shown(texts[0]) == rendered(told) and rendered(told)
        # the permutation cannot be read back from the times (VideoLLaMA3's token compression makes the
        # number of tokens per frame depend on the pixels, hence on the order: that is not time)
        assert [shown(t) for t in texts[1:]] == [shown(texts[0])] * 2
        if family == "smolvlm":
            assert f"from a {timedelta(seconds=int(told.metadata['duration']))} [H:MM:SS] video" in texts[0]
    elif adapter.time == time_told.QWEN25:  # seconds per two-frame temporal patch: the told spacing
        spacing = (told.times[-1] - told.times[0]) / (len(told.times) - 1)
        for request in (natural, permuted):
            seconds = model.model_inputs([request])["video_second_per_grid"]
            assert seconds.tolist() == pytest.approx([2 * spacing], rel=1e-5)
        assert told.conveys_time and abs(seconds[0].item() - 2 / 2.0) > 0.1  # not the processor's 2 fps default
    else:  # nothing about time reaches an order-only family: other times, the same inputs
        assert texts[1:] == texts[:1] * 2
        assert adapter.time == time_told.ORDER and not told.conveys_time
        slower = Frames(**{**natural.frames.__dict__, "timestamps": [3 * t for t in natural.frames.timestamps],
                           "duration": 3 * natural.frames.duration})
        a, b = model.model_inputs([natural]), model.model_inputs([resolve(model, slower)])
        assert resolve(model, slower).told.times != told.times
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a if hasattr(a[k], "shape"))


# -- both modes, and batching -----------------------------------------------------------------------

def mixed_requests(samples) -> list[Request]:
    """Clips of two frame counts and two sizes, and prompts of two lengths, so a batch needs padding
    (also within the one model call per frame count that families with stacked video tensors make)."""
    out = []
    for i, s in enumerate(samples):
        frames = read_frames(s.media, FrameProtocol(num_frames=4 + 2 * (i % 2), short_side=(84, 112)[i % 2]), s.id)
        choices = CLASSES if i < 2 else CLASSES + ("surprise",)
        out.append(Request(sample_id=s.id, frames=frames, messages=NAMES.render(choices), choices=choices))
    return out


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("mode", ["score", "generate"])
def test_batch_of_four_answers_as_each_request_alone(twin_dirs, synthetic30, family, mode):
    _needs(family)
    model = HFModel({"pretrained": str(twin_dirs[family]), "mode": mode, "max_new_tokens": 3})
    reqs = mixed_requests(synthetic30[1][:4])
    alone = [ask(model, [r], mode)[0] for r in reqs]
    together = ask(model, reqs, mode)
    assert [a.text for a in alone] == [b.text for b in together]
    assert all(isinstance(a.text, str) and a.meta["visual_tokens"] for a in together)
    if mode == "score":
        for r, a, b in zip(reqs, alone, together):
            assert list(a.scores) == list(r.choices) and a.text == max(a.scores, key=a.scores.get)
            np.testing.assert_allclose([a.scores[c] for c in r.choices], [b.scores[c] for c in r.choices], atol=1e-4)


@pytest.mark.parametrize("family", FAMILIES)
def test_cached_prefix_scoring_equals_the_full_candidate_pass(twin_models, synthetic30, family):
    model = twin_models(family)
    reqs = [request_rules.resolve(r, model, "score") for r in mixed_requests(synthetic30[1][:1])]
    np.testing.assert_allclose(model.choice_scores(reqs), reference_choice_scores(model, reqs), atol=1e-4)


@pytest.mark.parametrize("family", FAMILIES)
def test_score_mode_closes_every_answer_with_the_end_of_turn_token(twin_models, family):
    model = twin_models(family)
    adapter = families.get(family)
    expected = adapter.end_of_turn or {"llava-next-video": "</s>", "video-llava": "</s>", "gemma4": "<turn|>",
                                       "perception-lm": "<|eot_id|>",
                                       "smolvlm": "<end_of_utterance>"}.get(family, "<|im_end|>")
    assert model.tokenizer.convert_ids_to_tokens(model.end_of_turn) == expected


@pytest.mark.parametrize("family,mode", [("internvl", "score"), ("glm4v", "generate")])
def test_tiny_vlm_runs_through_the_command_line(run_cli, tmp_path, cache_dir, family, mode):
    r = run_cli("run", "--tasks", "synthetic:n=7,seed=4", "--model", "tiny-vlm", "--model-args",
                f"family={family},mode={mode},max_new_tokens=3,batch_size=4", "--output-path", str(tmp_path),
                "--no-progress", "--no-cache")
    assert r.code == 0, r.err
    doc = read_results(tmp_path)
    assert doc["model"]["identity"]["family"] in families.get(family).model_types
    assert doc["tasks"]["synthetic:n=7,seed=4"]["counts"]["evaluated"] == 7
    assert (cache_dir / "checkpoints" / f"tiny-{family}" / "config.json").is_file()


def test_fixed_size_families_refuse_pixel_bounds_they_cannot_apply(twin_dirs):
    from harness.errors import UsageError
    with pytest.raises(UsageError, match="fixed size"):
        HFModel({"pretrained": str(twin_dirs["llava-onevision"]), "max_pixels": 50176})
    with pytest.raises(UsageError, match="pixels=native"):
        HFModel({"pretrained": str(twin_dirs["internvl"]), "pixels": "native"})


# -- the same family through vLLM and a server ------------------------------------------------------

class _Spy:
    """A processor that records the arguments of its call."""

    def __init__(self, processor):
        self.processor, self.kwargs = processor, {}

    def __getattr__(self, name):
        return getattr(self.processor, name)

    def __call__(self, **kwargs):
        self.kwargs = kwargs
        return self.processor(**kwargs)


@pytest.mark.parametrize("family", FAMILIES)
def test_vllm_and_servers_are_told_what_transformers_is_told(twin_models, twin_dirs, vfr_clip, family):
    from harness.plugins.openai_server import OpenAIServerModel, build_body
    from harness.plugins.vllm_engine import VLLMModel, engine_prompt, video_item

    model = twin_models(family)
    adapter = families.get(family)
    engine = VLLMModel({"pretrained": str(twin_dirs[family])})
    served = OpenAIServerModel({"base_url": "http://127.0.0.1:9/v1", "model": "m", "family": adapter.model_types[0]})
    assert engine.adapter is served.adapter is adapter
    assert engine.time_family() == served.time_family() == model.time_family() == adapter.time
    request = resolve(model, read_frames(vfr_clip, FrameProtocol(num_frames=8, order="reversed"), "c"))
    spy = _Spy(model.processor)
    model.model_inputs([request], processor=spy)
    hf_metadata = {k: getattr(spy.kwargs["video_metadata"][0], k) for k in request.told.metadata}
    engine_kwargs = engine_prompt("TEXT", request, {"max_pixels": 1}, adapter)["mm_processor_kwargs"]
    body = build_body(request, "m", family=adapter, mm_processor_kwargs={"max_pixels": 1})
    # the same times: the metadata every backend hands over is what the core resolved
    assert hf_metadata == request.told.metadata
    assert {k: video_item(request)[1][k] for k in request.told.metadata} == request.told.metadata
    assert {k: body["media_io_kwargs"]["video"][k] for k in request.told.metadata} == request.told.metadata
    # the same processor switches and time carriers, then the user's own arguments
    own = adapter.processor_kwargs([request])
    assert own["do_sample_frames"] is False
    assert {k: spy.kwargs[k] for k in own} == own
    assert engine_kwargs == body["mm_processor_kwargs"] == {**own, "max_pixels": 1}
