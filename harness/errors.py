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
