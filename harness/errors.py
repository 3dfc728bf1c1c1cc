"""Exceptions that the CLI turns into exit codes and clear messages."""


class HarnessError(Exception):
    """Base class: an error with a message meant for the user."""


class UsageError(HarnessError):
    """The command line or a configuration value is wrong (exit code 2)."""


class DataError(HarnessError):
    """Input data (annotations, media, results files) is malformed."""


class MediaError(HarnessError):
    """A video or frame source cannot be read; the sample fails, the run goes on."""


class StrategyError(HarnessError):
    """A request strategy could not build one sample's request (a captioner failed): that sample
    fails, the run goes on."""


class ModelAborted(HarnessError):
    """The model cannot go on (the server refuses every request, or is gone): the run stops at once.

    ``answered`` lines up with the requests of the call that failed: the responses that did come
    back (None where none did), so they are cached before the run stops and a rerun resumes."""

    def __init__(self, message: str, answered: list | None = None):
        super().__init__(message)
        self.answered = answered or []
