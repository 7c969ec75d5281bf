"""The hub's half of an iterative model fit (Cox, GLM): Newton steps with step halving.

Every round the nodes evaluate the model at the hub's point ``beta``; the hub sums their
answers into an objective (to maximise) and a Newton step there. A point worse than the last
accepted one is not used: the hub halves the step from the accepted point instead. The fit
has converged when every coordinate of the Newton step is below ``tol × (1 + |beta|)``. The
estimate is then the point plus that last step, which by Newton's quadratic convergence is
exact to about tol² (rounding, at the default); the information matrix, and so the standard
errors, are the ones evaluated at the point, within tol of the estimate. This saves the round
that would only confirm a step of nothing.
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.linalg
import scipy.stats

from oncofed.analysis.base import AnalysisError

TOL = 1e-6
MAX_HALVINGS = 30
_SLACK = 1e-12  # relative: objective differences below this are rounding, not a worse point


def start(beta: list[float]) -> dict:
    return {"beta": beta, "iteration": 1, "accepted": None, "halvings": 0}


def advance(state: dict, objective: float, step: np.ndarray, *, tol: float, max_iter: int) -> dict | None:
    """The next state, or None once converged at ``state["beta"]`` (estimate: beta + step)."""
    beta = np.asarray(state["beta"], dtype=float)
    accepted = state["accepted"]
    if accepted is not None and not (np.isfinite(objective) and
                                     objective >= accepted["objective"] - _SLACK * (1 + abs(accepted["objective"]))):
        if state["halvings"] >= MAX_HALVINGS:
            raise AnalysisError("the fit did not converge: halving the step no longer improves it")
        base = np.asarray(accepted["beta"])
        return {**state, "beta": (base + (beta - base) / 2).tolist(), "halvings": state["halvings"] + 1}
    if not (np.isfinite(objective) and np.all(np.isfinite(step))):
        raise AnalysisError("the fit did not converge: the model is not finite at its starting point")
    if np.all(np.abs(step) <= tol * (1 + np.abs(beta))):
        return None
    if state["iteration"] >= max_iter:
        raise AnalysisError(f"the fit did not converge in {max_iter} iterations (perfect separation or "
                            "too little data for the covariates?)")
    return {"beta": (beta + step).tolist(), "iteration": state["iteration"] + 1,
            "accepted": {"beta": beta.tolist(), "objective": float(objective)}, "halvings": 0}


def solve(information: np.ndarray, vector: np.ndarray, names: list[str]) -> np.ndarray:
    """information⁻¹ · vector for a positive definite information matrix."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", scipy.linalg.LinAlgWarning)  # singular to working precision
            return scipy.linalg.solve(information, vector, assume_a="pos")
    except (np.linalg.LinAlgError, scipy.linalg.LinAlgWarning, ValueError):
        raise AnalysisError(
            f"the model cannot be fitted: its covariates ({', '.join(names)}) are collinear, "
            "or a covariate does not vary in the cohort"
        ) from None


def covariance(information: np.ndarray, names: list[str]) -> np.ndarray:
    return solve(information, np.eye(len(information)), names)


def wald(coef: np.ndarray, se: np.ndarray, alpha: float) -> dict[str, np.ndarray]:
    """Wald z, two-sided p, -log2(p) (from the log tail, so finite where p underflows) and the
    (1 - alpha) confidence bounds."""
    z = coef / se
    log_p = np.log(2) + scipy.stats.norm.logsf(np.abs(z))
    q = scipy.stats.norm.ppf(1 - alpha / 2)
    return {"z": z, "p": np.exp(log_p), "-log2(p)": -log_p / np.log(2), "lower": coef - q * se, "upper": coef + q * se}
