"""The user-facing error types. Each message names the file or key at fault and what to do."""


class EcomvisionError(Exception):
    """Base class: the CLI prints these as one line instead of a traceback."""


class DataError(EcomvisionError):
    """Missing/empty data folder, unreadable image, bad mask or label."""


class ConfigError(EcomvisionError):
    """Unknown project/task, inconsistent configuration values."""


class WeightsNotFoundError(EcomvisionError):
    """A pretrained weights file (or local cache entry) is absent."""


class CheckpointError(EcomvisionError):
    """A checkpoint or weights file that is refused (it would run code), damaged, or of another project."""


class WeightsMismatchError(EcomvisionError):
    """A weights file that fits only part of the model it is loaded into."""
