"""Every exception the harness raises on purpose, and what each does to a run.

What happens to a run, by what a model or task does:

======================================  =============================================================
``Response(error="...")``               that one sample fails with the message; it is never cached
                                        and the run goes on
any other exception from ``predict``    every sample of that batch fails with the exception's text;
(not a :class:`HarnessError`)           the run goes on
:class:`MediaError`,                    raised while a sample's frames are decoded or its request is
:class:`StrategyError`                  built: that one sample fails; the run goes on
:class:`HarnessError` (any other, and   the run stops with the message (exit code 1); results of
MediaError/StrategyError from predict)  the tasks finished before stay on disk
:class:`UsageError`                     a wrong option or argument: the run stops (exit code 2),
                                        before any work where it can be checked while planning
:class:`ModelAborted`                   the run stops at once; the answers that came back are kept
                                        in the response cache (a rerun resumes) and the results
                                        file is marked aborted
======================================  =============================================================

With ``--strict`` a failed sample raises :class:`SampleFailed` instead of being recorded.
"""


class HarnessError(Exception):
    """Base class: an error with a message meant for the user; raised anywhere, it stops the run."""


class UsageError(HarnessError):
    """The command line, a plugin argument or a configuration value is wrong (exit code 2): raised
    while the run is planned, before any clip is decoded."""


class DataError(HarnessError):
    """Input data is malformed: an annotation file, a results file, a per-sample log, or a task
    whose samples carry labels outside its class list. The run stops and says which file or sample."""


class MediaError(HarnessError):
    """A video or frame source cannot be read: that sample fails, the run goes on."""


class StrategyError(HarnessError):
    """A request strategy could not build one sample's request (a captioner failed): that sample
    fails, the run goes on."""


class SampleFailed(HarnessError):
    """Raised in strict mode (``--strict``) when a sample cannot be evaluated: the run stops there."""


class CheckpointUnavailable(HarnessError):
    """A model's checkpoint is neither on this machine nor downloadable from here: the run stops
    before any work, saying how to bring the checkpoint."""


class CapabilityError(HarnessError):
    """The model cannot do what the run asks of it (score mode against a server that returns no
    log-probabilities, a request mode it does not support): the run stops, naming the option to change."""


class ModelAborted(HarnessError):
    """The model cannot go on (the server refuses every request, or is gone): the run stops at once.

    ``answered`` lines up with the requests of the call that failed: the responses that did come
    back (None where none did), so they are cached before the run stops and a rerun resumes."""

    def __init__(self, message: str, answered: list | None = None):
        super().__init__(message)
        self.answered = answered or []
