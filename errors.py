"""The project's error types. Every layer may raise them; this module imports nothing of the project."""


class InputError(Exception):
    """A mistake of the user's (flag, file, data): reported as one `error:` line, exit status 2."""


class TrainingError(Exception):
    """Training cannot go on (non-finite loss); reported as one line, exit status 1."""


class CheckpointError(Exception):
    """A checkpoint that cannot be written or trusted."""
