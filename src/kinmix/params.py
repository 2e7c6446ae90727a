r"""Named parameters, their transforms and bounds, and fitting by L-BFGS-B.

A :class:`Parameter` stores one named quantity of a model (a scale, an offset, a vector
of effect sizes, a Cholesky factor) through its *free* coordinates: a flat float64 vector
:math:`\theta \in \mathbb R^p` mapped to the natural value by a :class:`Transform`,

.. math::

    v = t(\theta), \qquad \theta = t^{-1}(v).

Optimisers move :math:`\theta`, inside box bounds stated in the same free coordinates,
and gradients are always taken with respect to :math:`\theta`. The transforms are

========================  ===================================  ========================
transform                 natural value :math:`v`              free coordinates
========================  ===================================  ========================
:data:`IDENTITY`          any real array                       :math:`v` flattened
:data:`LOG`               positive reals                       :math:`\log v`
:data:`LOGIT`             reals in :math:`(0, 1)`               :math:`\log(v/(1-v))`
:data:`LOWER_CHOLESKY`    lower-triangular :math:`d\times d`   strictly lower entries
                          with a positive diagonal             (row by row), then
                                                               :math:`\log L_{ii}`
========================  ===================================  ========================

The numerical core, :func:`minimize_free`, is a pure function of a flat objective. The
stateful pieces of the seed API (``fix``/``unfix``, listeners, fitting that leaves the
optimum in the parameters) are the thin facade :class:`Parameter` plus :func:`maximize`.
:class:`Parametric` is the common base of the objects built on parameters (covariance
and mean functions, Gaussian-process models): a settable ``name``, the parameters by
their gradient keys, and the seed's indented printout.
"""

from __future__ import annotations

import sys
import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import minimize

from ._progress import ProgressLine
from .errors import BoundaryWarning, ConvergenceWarning, InputError

__all__ = [
    "IDENTITY",
    "LOG",
    "LOGIT",
    "LOWER_CHOLESKY",
    "DeltaScaleVariances",
    "FitResult",
    "Parameter",
    "Parametric",
    "Transform",
    "maximize",
    "minimize_free",
    "parameter_key",
    "prefixed",
]


class Transform(ABC):
    """Bijection between a natural value and its flat, unconstrained free coordinates."""

    name: str

    @abstractmethod
    def to_value(self, free: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        r"""Natural value :math:`t(\theta)` of shape ``shape`` from free coordinates."""

    @abstractmethod
    def to_free(self, value: np.ndarray) -> np.ndarray:
        """Flat free coordinates :math:`t^{-1}(v)` of a natural value."""

    @abstractmethod
    def pullback(self, free: np.ndarray, value_gradient: np.ndarray) -> np.ndarray:
        r"""Chain rule from :math:`\partial f/\partial v` to :math:`\partial f/\partial\theta`.

        Returns :math:`\sum_k (\partial f/\partial v_k)(\partial v_k/\partial\theta_j)`
        as a flat vector of the size of ``free``.
        """

    @abstractmethod
    def check(self, value: np.ndarray, name: str) -> None:
        """Raise :class:`~kinmix.errors.InputError` if ``value`` is outside the domain."""

    def __repr__(self) -> str:
        return f"<transform {self.name}>"


class _Elementwise(Transform):
    r"""A transform applied entry by entry: :math:`v_k = g(\theta_k)`."""

    @abstractmethod
    def _forward(self, free: np.ndarray) -> np.ndarray: ...

    @abstractmethod
    def _inverse(self, value: np.ndarray) -> np.ndarray: ...

    @abstractmethod
    def _derivative(self, free: np.ndarray) -> np.ndarray: ...

    def to_value(self, free: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        return self._forward(np.asarray(free, float)).reshape(shape)

    def to_free(self, value: np.ndarray) -> np.ndarray:
        return self._inverse(np.asarray(value, float).ravel())

    def pullback(self, free: np.ndarray, value_gradient: np.ndarray) -> np.ndarray:
        return np.asarray(value_gradient, float).ravel() * self._derivative(free)


class _Identity(_Elementwise):
    r""":math:`v = \theta`."""

    name = "identity"

    def _forward(self, free: np.ndarray) -> np.ndarray:
        return free.copy()

    def _inverse(self, value: np.ndarray) -> np.ndarray:
        return value.copy()

    def _derivative(self, free: np.ndarray) -> np.ndarray:
        return np.ones_like(free)

    def check(self, value: np.ndarray, name: str) -> None:
        return None


class _Log(_Elementwise):
    r""":math:`v = e^{\theta}`, for positive values."""

    name = "log"

    def _forward(self, free: np.ndarray) -> np.ndarray:
        return np.exp(free)

    def _inverse(self, value: np.ndarray) -> np.ndarray:
        return np.log(value)

    def _derivative(self, free: np.ndarray) -> np.ndarray:
        return np.exp(free)

    def check(self, value: np.ndarray, name: str) -> None:
        if np.any(value <= 0):
            raise InputError(f"{name} must be positive; got {value}.")


class _Logit(_Elementwise):
    r""":math:`v = 1/(1 + e^{-\theta})`, for values in :math:`(0, 1)`."""

    name = "logit"

    def _forward(self, free: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-free))

    def _inverse(self, value: np.ndarray) -> np.ndarray:
        return np.log(value) - np.log1p(-value)

    def _derivative(self, free: np.ndarray) -> np.ndarray:
        v = self._forward(free)
        return v * (1.0 - v)

    def check(self, value: np.ndarray, name: str) -> None:
        if np.any((value <= 0) | (value >= 1)):
            raise InputError(f"{name} must lie strictly between 0 and 1; got {value}.")


class _LowerCholesky(Transform):
    r"""Flat coordinates of a lower-triangular :math:`L` with a positive diagonal.

    For a :math:`d\times d` matrix, :math:`\theta` holds the :math:`d(d-1)/2` strictly
    lower entries :math:`L_{ij}` (:math:`i > j`, row by row) followed by the :math:`d`
    values :math:`\log L_{ii}`; the upper triangle is zero.
    """

    name = "Lu"

    @staticmethod
    def _dim(size: int) -> int:
        return round((np.sqrt(8 * size + 1) - 1) / 2)

    def to_value(self, free: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        d = shape[0]
        rows, cols = np.tril_indices(d, k=-1)
        L = np.zeros((d, d))
        L[rows, cols] = free[: rows.size]
        L[np.diag_indices(d)] = np.exp(free[rows.size :])
        return L

    def to_free(self, value: np.ndarray) -> np.ndarray:
        rows, cols = np.tril_indices(value.shape[0], k=-1)
        return np.concatenate([value[rows, cols], np.log(np.diag(value))])

    def pullback(self, free: np.ndarray, value_gradient: np.ndarray) -> np.ndarray:
        d = self._dim(free.size)
        rows, cols = np.tril_indices(d, k=-1)
        diag = np.diagonal(value_gradient) * np.exp(free[rows.size :])
        return np.concatenate([value_gradient[rows, cols], diag])

    def check(self, value: np.ndarray, name: str) -> None:
        if value.ndim != 2 or value.shape[0] != value.shape[1]:
            raise InputError(f"{name} must be a square matrix; got shape {value.shape}.")
        if np.any(np.triu(value, k=1) != 0):
            raise InputError(f"{name} must be lower triangular; its upper triangle is not 0.")
        if np.any(np.diag(value) <= 0):
            raise InputError(f"{name} must have a positive diagonal; got {np.diag(value)}.")


IDENTITY: Transform = _Identity()
"""No transform: the free coordinates are the value, flattened."""
LOG: Transform = _Log()
"""Log transform for positive quantities (scales, variances)."""
LOGIT: Transform = _Logit()
"""Logit transform for proportions in :math:`(0, 1)`."""
LOWER_CHOLESKY: Transform = _LowerCholesky()
"""Cholesky-flat ("Lu") transform for lower-triangular factors with a positive diagonal."""


Listener = Callable[[], None]


class Parameter:
    """A named model parameter stored by its free coordinates.

    Parameters
    ----------
    name
        Name used in messages and in gradient dictionaries (e.g. ``"logscale"``).
    value
        Initial natural value: a scalar, a vector or a matrix.
    transform
        Map from free coordinates to the value; :data:`IDENTITY` by default.
    bounds
        Box bounds on the *free* coordinates used by the optimiser: ``None`` (unbounded),
        one ``(lower, upper)`` pair for every coordinate, or a sequence of pairs, one per
        coordinate. Setting a value outside them is allowed; fitting starts from the
        value projected onto the box.

    Notes
    -----
    The parameter is mutable: setting :attr:`value` or :attr:`free` notifies every
    callback registered with :meth:`listen`. Fixed parameters are left alone by
    :func:`maximize`.
    """

    def __init__(
        self,
        name: str,
        value: Any,
        *,
        transform: Transform = IDENTITY,
        bounds: tuple[float, float] | Sequence[tuple[float, float]] | None = None,
    ) -> None:
        self._name = name
        self._transform = transform
        array = self._as_value(value, np.shape(value))
        self._shape = array.shape
        self._free = transform.to_free(array)
        self._bounds = self._as_bounds(bounds, self._free.size)
        self._fixed = False
        self._listeners: list[Listener] = []

    def _as_value(self, value: Any, shape: tuple[int, ...]) -> np.ndarray:
        try:
            array = np.array(value, dtype=float)
        except (TypeError, ValueError) as exc:
            raise InputError(f"{self._name} must be numeric: {exc}") from exc
        if array.shape != shape:
            raise InputError(f"{self._name} must have shape {shape}; got {array.shape}.")
        if not np.all(np.isfinite(array)):
            raise InputError(f"{self._name} must be finite; got {array}.")
        self._transform.check(array, self._name)
        return array

    def _as_bounds(self, bounds: Any, size: int) -> np.ndarray:
        if bounds is None:
            return np.tile([-np.inf, np.inf], (size, 1))
        array = np.array(bounds, dtype=float)
        if array.shape == (2,):
            array = np.tile(array, (size, 1))
        if array.shape != (size, 2):
            raise InputError(
                f"bounds of {self._name} must be one (lower, upper) pair or {size} pairs; "
                f"got shape {array.shape}."
            )
        if np.any(array[:, 0] > array[:, 1]) or np.any(np.isnan(array)):
            raise InputError(f"bounds of {self._name} must satisfy lower <= upper.")
        return array

    @property
    def name(self) -> str:
        """Name of the parameter."""
        return self._name

    @property
    def transform(self) -> Transform:
        """Transform from free coordinates to value."""
        return self._transform

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of the natural value (``()`` for a scalar)."""
        return self._shape

    @property
    def size(self) -> int:
        """Number of free coordinates."""
        return int(self._free.size)

    @property
    def value(self) -> Any:
        """Natural value: a float for a scalar parameter, a new array otherwise."""
        array = self._transform.to_value(self._free, self._shape)
        return float(array) if array.ndim == 0 else array

    @value.setter
    def value(self, value: Any) -> None:
        array = self._as_value(value, self._shape)
        self._set_free(self._transform.to_free(array))

    @property
    def free(self) -> np.ndarray:
        """Free coordinates (a copy), the space in which fitting and gradients work."""
        return self._free.copy()

    @free.setter
    def free(self, free: Any) -> None:
        array = np.array(free, dtype=float).ravel()
        if array.shape != self._free.shape:
            raise InputError(
                f"free coordinates of {self._name} must have {self._free.size} entries; "
                f"got {array.size}."
            )
        if not np.all(np.isfinite(array)):
            raise InputError(f"free coordinates of {self._name} must be finite.")
        self._set_free(array)

    def _set_free(self, free: np.ndarray) -> None:
        self._free = free
        for listener in self._listeners:
            listener()

    @property
    def bounds(self) -> list[tuple[float, float]]:
        """Bounds on the free coordinates, one ``(lower, upper)`` pair per coordinate."""
        return [(float(lo), float(hi)) for lo, hi in self._bounds]

    @property
    def fixed(self) -> bool:
        """Whether fitting leaves this parameter unchanged."""
        return self._fixed

    def fix(self) -> None:
        """Exclude the parameter from fitting."""
        self._fixed = True

    def unfix(self) -> None:
        """Include the parameter in fitting again."""
        self._fixed = False

    def listen(self, callback: Listener) -> None:
        """Call ``callback()`` (no arguments) after every change of the value."""
        self._listeners.append(callback)

    def __repr__(self) -> str:
        state = "fixed" if self._fixed else "free"
        return (
            f"Parameter({self._name!r}, {self.value!r}, transform={self._transform.name}, {state})"
        )


def parameter_key(keys: Mapping[str, str], name: str, argument: str) -> str:
    """The key of the parameter a user calls ``name`` in a model's ``fix``/``unfix``.

    ``keys`` maps the user-facing names ("delta", "scale", ...) to the model's keys
    (``"logitdelta"``, ...); an unknown ``name`` raises :class:`~kinmix.errors.InputError`
    naming ``argument`` and listing the choices. Every model's ``fix(name)`` and
    ``unfix(name)`` go through it, and then set :attr:`Parameter.fixed` (or the front end's
    own flag where the value is not a :class:`Parameter`).
    """
    if name not in keys:
        choices = ", ".join(repr(key) for key in keys)
        raise InputError(f"{argument} must be one of {choices}; got {name!r}.")
    return keys[name]


class DeltaScaleVariances:
    r"""The variance components of the δ parametrisation shared by every single-trait model,
    :math:`s((1-\delta)K + \delta I) = v_0K + v_1I`, read from the model's ``scale`` s and
    ``delta`` δ (:class:`kinmix.lmm.LMM`, :class:`kinmix.glmm.GLMMExpFam`,
    :class:`kinmix.glmm.GLMMNormal`)."""

    scale: float
    delta: float

    @property
    def v0(self) -> float:
        r""":math:`v_0 = s(1-\delta)`, the variance on K."""
        return self.scale * (1.0 - self.delta)

    @property
    def v1(self) -> float:
        r""":math:`v_1 = s\delta`, the variance on the identity."""
        return self.scale * self.delta


class Parametric(ABC):
    """Base of the objects whose value depends on named :class:`Parameter` s.

    Subclasses give :meth:`parameters`, keyed exactly like their ``gradient()``
    dictionaries, and describe themselves for printing through :meth:`_arguments`,
    :meth:`_attributes` and :meth:`_children`. The printout is::

        TypeName(arguments): name
          attribute: value
          <each child's printout, indented by two spaces>
    """

    def __init__(self, name: str) -> None:
        self.name = name

    @property
    def name(self) -> str:
        """Name shown when printed and used as the prefix of composite gradient keys."""
        return self._name

    @name.setter
    def name(self, name: str) -> None:
        if not isinstance(name, str):
            raise InputError(f"name must be a string; got {type(name).__name__}.")
        self._name = name

    @abstractmethod
    def parameters(self) -> dict[str, Parameter]:
        """The parameters, keyed as in the gradient dictionary."""

    def listen(self, callback: Listener) -> None:
        """Call ``callback()`` whenever any parameter changes."""
        for parameter in self.parameters().values():
            parameter.listen(callback)

    def _arguments(self) -> str:
        return ""

    def _attributes(self) -> list[tuple[str, Any]]:
        return []

    def _children(self) -> list[Parametric]:
        return []

    def __str__(self) -> str:
        lines = [f"{type(self).__name__}({self._arguments()}): {self.name}"]
        for label, value in self._attributes():
            first, *rest = str(value).split("\n")
            lines.append(f"  {label}: {first}")
            lines.extend(" " * (len(label) + 4) + line for line in rest)
        for child in self._children():
            lines.extend("  " + line for line in str(child).split("\n"))
        return "\n".join(lines)


def prefixed(prefix: str, mapping: Mapping[str, Any]) -> dict[str, Any]:
    """Return ``mapping`` with every key ``k`` renamed ``f"{prefix}.{k}"``."""
    return {f"{prefix}.{key}": value for key, value in mapping.items()}


@dataclass(frozen=True)
class FitResult:
    """Outcome of a maximisation.

    Attributes
    ----------
    converged
        Whether L-BFGS-B met its tolerance (``factr`` or ``pgtol``).
    n_iterations
        Number of L-BFGS-B iterations.
    n_evaluations
        Number of objective (value and gradient) evaluations.
    message
        L-BFGS-B's own account of why it stopped.
    value
        Objective value at the returned parameters.
    """

    converged: bool
    n_iterations: int
    n_evaluations: int
    message: str
    value: float


FlatObjective = Callable[[np.ndarray], tuple[float, np.ndarray]]


def minimize_free(
    fun: FlatObjective,
    x0: np.ndarray,
    bounds: Sequence[tuple[float, float]],
    *,
    factr: float = 1e5,
    pgtol: float = 1e-7,
    max_iterations: int = 15000,
    progress: Callable[[int, float], None] | None = None,
) -> tuple[np.ndarray, FitResult]:
    r"""Minimise a smooth function of a flat vector with L-BFGS-B.

    Parameters
    ----------
    fun
        Pure function returning :math:`f(\theta)` and :math:`\nabla f(\theta)`.
    x0
        Starting point; it is projected onto ``bounds`` first.
    bounds
        One ``(lower, upper)`` pair per coordinate (infinite for none).
    factr
        Stop when :math:`(f_k - f_{k+1})/\max(|f_k|, |f_{k+1}|, 1) \le`
        ``factr`` :math:`\cdot\,\epsilon_{\text{machine}}`; scipy's ``ftol``.
    pgtol
        Stop when the largest entry of the projected gradient is at most ``pgtol``;
        scipy's ``gtol``.
    max_iterations
        Largest number of iterations (and of evaluations).
    progress
        Called as ``progress(iteration, f)`` after each iteration.

    Returns
    -------
    x, result
        The minimiser found and a :class:`FitResult` whose ``value`` is :math:`f(x)`.
    """
    lower = np.array([b[0] for b in bounds], dtype=float)
    upper = np.array([b[1] for b in bounds], dtype=float)
    start = np.clip(np.asarray(x0, dtype=float), lower, upper)
    last = {"f": np.nan, "iteration": 0}

    def objective(x: np.ndarray) -> tuple[float, np.ndarray]:
        f, g = fun(x)
        last["f"] = f
        return f, g

    def callback(_: np.ndarray) -> None:
        last["iteration"] += 1
        if progress is not None:
            progress(last["iteration"], float(last["f"]))

    res = minimize(
        objective,
        start,
        jac=True,
        method="L-BFGS-B",
        bounds=list(zip(lower, upper, strict=True)),
        callback=callback,
        options={
            "ftol": factr * np.finfo(float).eps,
            "gtol": pgtol,
            "maxiter": max_iterations,
            "maxfun": max_iterations,
        },
    )
    result = FitResult(
        converged=bool(res.success),
        n_iterations=int(res.nit),
        n_evaluations=int(res.nfev),
        message=str(res.message),
        value=float(res.fun),
    )
    return np.asarray(res.x, dtype=float), result


Objective = Callable[[], tuple[float, Mapping[str, Any]]]


def maximize(
    objective: Objective,
    parameters: Mapping[str, Parameter],
    *,
    factr: float = 1e5,
    pgtol: float = 1e-7,
    max_iterations: int = 15000,
    verbose: bool = False,
) -> FitResult:
    r"""Maximise a function of the unfixed parameters, leaving them at the optimum.

    Parameters
    ----------
    objective
        Called without arguments after the parameters are set; returns the value
        :math:`f` and a mapping from each parameter's key in ``parameters`` to
        :math:`\partial f/\partial\theta` in that parameter's free coordinates (a scalar
        or an array with one entry per coordinate; fixed parameters may be absent).
    parameters
        The parameters by key. Fixed ones are not moved.
    factr, pgtol, max_iterations
        Stopping rules, as in :func:`minimize_free`.
    verbose
        Show the progress on standard error as one line, rewritten at every iteration
        (``iteration i: objective f``) and ended when the fit stops.

    Returns
    -------
    FitResult
        Its ``value`` is the maximum found, :math:`f` (not :math:`-f`). Callers decide
        whether a non-converged result deserves a
        :class:`~kinmix.errors.ConvergenceWarning`.

    Raises
    ------
    Exception
        Whatever ``objective`` raises; the parameters are first put back at their
        starting values.
    """
    keys = [key for key, p in parameters.items() if not p.fixed]
    if not keys:
        return FitResult(True, 0, 1, "no unfixed parameters", float(objective()[0]))
    sizes = [parameters[key].size for key in keys]
    splits = np.cumsum(sizes)[:-1]

    def assign(x: np.ndarray) -> None:
        for key, part in zip(keys, np.split(x, splits), strict=True):
            parameters[key].free = part

    def negated(x: np.ndarray) -> tuple[float, np.ndarray]:
        assign(x)
        f, grad = objective()
        flat = [np.asarray(grad[key], dtype=float).ravel() for key in keys]
        return -float(f), -np.concatenate(flat)

    line = ProgressLine(sys.stderr) if verbose else None

    def report(iteration: int, f: float) -> None:
        line.update(f"iteration {iteration}: objective {-f:.10g}")

    x0 = np.concatenate([parameters[key].free for key in keys])
    bounds = [b for key in keys for b in parameters[key].bounds]
    try:
        x, result = minimize_free(
            negated,
            x0,
            bounds,
            factr=factr,
            pgtol=pgtol,
            max_iterations=max_iterations,
            progress=report if verbose else None,
        )
    except Exception:
        assign(x0)
        raise
    finally:
        if line is not None:
            line.close()
    assign(x)
    return FitResult(
        converged=result.converged,
        n_iterations=result.n_iterations,
        n_evaluations=result.n_evaluations,
        message=result.message,
        value=-result.value,
    )


def fit_model(
    model: Any, *, factr: float = 1e5, pgtol: float = 1e-7, verbose: bool = False
) -> FitResult:
    r"""Maximise ``model.value()`` over the unfixed ``model.parameters()`` (L-BFGS-B).

    This is the ``fit`` of every model fitted by L-BFGS-B (:class:`kinmix.gp.GP`,
    :class:`kinmix.gp.ExpFamGP`, :class:`kinmix.glmm.GLMMExpFam`,
    :class:`kinmix.glmm.GLMMNormal`); their ``fit(verbose, factr, pgtol)`` pass their
    arguments on.

    Parameters
    ----------
    model
        Has ``value()``, ``gradient()`` (keyed like the parameters) and ``parameters()``.
    factr
        Stop when :math:`(\ell_k - \ell_{k+1})/\max(|\ell_k|, |\ell_{k+1}|, 1)`
        is at most ``factr`` times the machine epsilon.
    pgtol
        Stop when the largest entry of the projected gradient is at most ``pgtol``.
    verbose
        Show the progress on standard error as one line, rewritten at each iteration.

    Warns
    -----
    ConvergenceWarning
        If L-BFGS-B stops before meeting either tolerance (pointing at the caller of
        ``model.fit``); the parameters are left at the best point found.
    BoundaryWarning
        If a parameter stops on a hard bound of its search range while the likelihood
        still increases beyond it.
    """
    result = maximize(
        lambda: (model.value(), model.gradient()),
        model.parameters(),
        factr=factr,
        pgtol=pgtol,
        verbose=verbose,
    )
    if not result.converged:
        warnings.warn(
            f"{type(model).__name__}.fit did not converge after {result.n_iterations} "
            f"iterations ({result.message}); the log marginal likelihood reached "
            f"{result.value:.6g}. Try a looser factr or pgtol, or other starting values.",
            ConvergenceWarning,
            stacklevel=3,
        )
    _warn_on_bounds(model, stacklevel=4)
    return result


#: A free coordinate this close (relative) to a finite bound sits on it.
BOUND_RTOL = 1e-6
#: A gradient component beyond this still pushes the optimum outward.
OUTWARD_GRADIENT = 1e-6


def _warn_on_bounds(model: Any, stacklevel: int) -> None:
    """Warn for every free coordinate stopped on a hard bound while the objective still
    increases beyond it: the maximum lies outside the admissible range."""
    parameters = model.parameters()
    gradient = model.gradient()
    for key, parameter in parameters.items():
        if parameter.fixed or key not in gradient:
            continue
        free = np.ravel(parameter.free)
        slope = np.ravel(np.asarray(gradient[key], dtype=float))
        for i, (lower, upper) in enumerate(parameter.bounds):
            on_upper = np.isfinite(upper) and upper - free[i] <= BOUND_RTOL * max(1.0, abs(upper))
            on_lower = np.isfinite(lower) and free[i] - lower <= BOUND_RTOL * max(1.0, abs(lower))
            outward = (on_upper and slope[i] > OUTWARD_GRADIENT) or (
                on_lower and slope[i] < -OUTWARD_GRADIENT
            )
            if not outward:
                continue
            side, bound = ("upper", upper) if on_upper else ("lower", lower)
            value = np.ravel(parameter.value)
            shown = value[i] if value.size == free.size else free[i]
            warnings.warn(
                f"{type(model).__name__}.fit stopped with {parameter.name} = {shown:.6g} "
                f"({key}) on the {side} "
                f"bound of its search range ({bound:.6g} in the optimiser's coordinate) while "
                f"the likelihood still increases beyond it (derivative {slope[i]:.3g}): the "
                "maximum lies outside the admissible range, so this value is not an optimum.",
                BoundaryWarning,
                stacklevel=stacklevel,
            )
