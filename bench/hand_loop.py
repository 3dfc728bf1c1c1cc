"""A hand-written transformers evaluation loop: what `bench/loop.py` measures the harness against.

    python bench/hand_loop.py MANIFEST.json BATCH

It imports nothing from the harness, so its start-up is a plain script's: torch, transformers,
the processor and the weights. Per batch it does what a careful user writes by hand: PyAV
decodes each clip, 8 uniformly spaced frames are kept, the processor gets them with their
timing (the sampled frames' spacing, as the harness tells Qwen2.5-VL), then greedy ``generate``
and ``batch_decode``. It prints one JSON line: start-up, loop seconds and the answers.
"""

from __future__ import annotations

import json
import sys
import time

STARTED = time.perf_counter()

import av  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from transformers import AutoModelForImageTextToText, AutoProcessor  # noqa: E402
from transformers.video_utils import VideoMetadata  # noqa: E402


def frames_of(path: str, k: int) -> tuple[np.ndarray, VideoMetadata]:
    with av.open(path) as container:
        stream = container.streams.video[0]
        decoded = list(container.decode(stream))
    idx = np.linspace(0, len(decoded) - 1, k).round().astype(int)
    times = [float(decoded[j].time) - float(decoded[0].time) for j in idx]
    spacing = (times[-1] - times[0]) / (k - 1)
    video = np.stack([decoded[j].to_ndarray(format="rgb24") for j in idx])
    meta = VideoMetadata(total_num_frames=k, fps=1.0 / spacing, frames_indices=list(range(k)),
                         duration=k * spacing, width=video.shape[2], height=video.shape[1])
    return video, meta


def main() -> None:
    manifest = json.loads(open(sys.argv[1]).read())
    batch = int(sys.argv[2])
    processor = AutoProcessor.from_pretrained(manifest["checkpoint"])
    processor.tokenizer.padding_side = "left"
    model = AutoModelForImageTextToText.from_pretrained(manifest["checkpoint"],
                                                        dtype=getattr(torch, manifest["dtype"])).eval()
    text = processor.apply_chat_template(manifest["messages"], add_generation_prompt=True, tokenize=False)
    tok = processor.tokenizer
    ready = time.perf_counter()
    answers = []
    clips = manifest["clips"]
    with torch.inference_mode():
        for i in range(0, len(clips), batch):
            videos, metas = zip(*(frames_of(c, manifest["frames"]) for c in clips[i:i + batch]))
            inputs = processor(text=[text] * len(videos), videos=list(videos), video_metadata=list(metas),
                               do_sample_frames=False, return_tensors="pt", padding=True)
            out = model.generate(**inputs, max_new_tokens=manifest["max_new_tokens"], do_sample=False,
                                 repetition_penalty=1.0, pad_token_id=tok.pad_token_id)
            answers += processor.batch_decode(out[:, inputs["input_ids"].shape[1]:], skip_special_tokens=True)
    done = time.perf_counter()
    print(json.dumps({"startup_s": ready - STARTED, "loop_s": done - ready, "answers": answers,
                      "torch_threads": torch.get_num_threads()}))


if __name__ == "__main__":
    main()
