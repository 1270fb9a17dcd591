"""The one family of exceptions emojisketch raises on purpose.

Every failure a user can cause (a bad drawing, a corrupt file, a full disk) surfaces as a
subclass of :class:`EmojisketchError` with a message fit to show in a dialog, never as a
crash deep inside numpy, PIL or torch.
"""


class EmojisketchError(Exception):
    """Base of every error the app reports to the user."""


class InkError(EmojisketchError, ValueError):
    """A drawing that cannot be normalised or rendered (no strokes, NaN coordinates...)."""


class DataFormatError(EmojisketchError, ValueError):
    """A data file that is not in the format it claims (bad JSON line, wrong array shape)."""


class ModelFileError(EmojisketchError):
    """A model file that is missing, corrupt, foreign or from an incompatible version."""


class StoreError(EmojisketchError):
    """The on-disk store of examples and models could not be read or written."""


class ExportError(EmojisketchError):
    """A Core ML export or import that failed or does not pass validation."""


class Cancelled(EmojisketchError):
    """An update task stopped because it was asked to; nothing it made was kept."""
