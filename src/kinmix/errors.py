"""Exceptions and warnings raised by kinmix.

Every error kinmix raises on purpose derives from :class:`KinmixError`, so callers can catch
the whole family at once. Errors about user input also derive from :class:`ValueError`.
"""

from __future__ import annotations


class KinmixError(Exception):
    """Base class of every error raised on purpose by kinmix."""


class InputError(KinmixError, ValueError):
    """An argument has the wrong shape, type or content (NaN, mismatched sizes, ...)."""


class OutputError(KinmixError, OSError):
    """An output or checkpoint could not be written (a full disk, a missing permission, ...);
    the message names the folder and the system's error."""


class FitError(KinmixError, ValueError):
    """A model could not be fitted (singular system, optimum on a hard bound, ...)."""


class CGConvergenceError(FitError):
    """Conjugate gradients reached their iteration cap before their tolerance; the message
    names the stage (``reml``, ``loco``, ``refine``) and the relative residual reached."""


class KinmixWarning(UserWarning):
    """Base class of the warnings issued by kinmix."""


class ConvergenceWarning(KinmixWarning):
    """An iterative procedure stopped before meeting its tolerance."""


class BoundaryWarning(KinmixWarning):
    """A fitted parameter sits on the boundary of its admissible range."""
