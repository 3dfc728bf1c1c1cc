"""A task whose second clip is not a video: the run must record it as failed and go on."""
import harness
from harness.emotions import BASIC7, SYNONYMS
from harness.task import Task
from harness.tasks.synthetic import SyntheticTask
from harness.types import FrameProtocol, Sample


class CorruptTask(Task):
    name = "corrupt-clips"
    classes = BASIC7
    aliases = SYNONYMS
    frame_protocol = FrameProtocol(num_frames=4)

    def __init__(self, params, context):
        self.synthetic = SyntheticTask({"n": 8, "seed": 5}, context)
        self.bad = context.cache_dir / "corrupt-clips" / "bad.mp4"

    def samples(self, split=None):
        good = self.synthetic.samples()
        self.bad.parent.mkdir(parents=True, exist_ok=True)
        self.bad.write_bytes(b"\x00\x00\x00\x18ftypmp42 this is not a video" * 10)
        return [good[0], Sample(id="bad", label="happy", media=str(self.bad)), *good[1:]]


@harness.hookimpl
def harness_register_tasks(register):
    register("corrupt-clips", CorruptTask, description="synthetic clips plus one corrupt file")
