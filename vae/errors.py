"""The package's errors: every problem the user can act on is a VAEError, printed by the CLI as one line."""

__all__ = ["VAEError", "DataError", "CheckpointError", "NonFiniteError", "WriteError"]


class VAEError(Exception):
    """A problem with the user's input (data, run directory, checkpoint, arguments). The CLI prints the
    message as one line on stderr and exits with status 1; it is never a bug in the package.

    `option` = (TrainConfig field, value or None) names the setting that would fix it: the library's
    message speaks of the setting, the CLI adds the flag (e.g. "(--likelihood gaussian)")."""

    def __init__(self, message, option=None):
        super().__init__(message)
        self.option = option


class DataError(VAEError, ValueError):
    """Missing, malformed or out-of-range data."""


class CheckpointError(VAEError, ValueError):
    """A model or checkpoint file that is missing, corrupted, or does not match the run."""


class NonFiniteError(VAEError):
    """The loss or a gradient became NaN or infinite; the message names the epoch, batch and op."""


class WriteError(VAEError, OSError):
    """A file of the run could not be written (a full disk, say); the message names it and says what is
    intact."""
