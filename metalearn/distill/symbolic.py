"""A closed-form student of a drift objective, found by symbolic regression (pyoperon).

Why pyoperon: Operon (Burlacu et al. 2020) is a fast C++ genetic-programming
symbolic regressor with Levenberg–Marquardt tuning of the constants and a
multi-objective (error, length) search that returns a Pareto front; its Python
package installs from PyPI as a binary wheel and needs nothing at run time (PySR,
the other maintained choice, downloads a Julia runtime on first use). It is an
optional dependency: ``pip install metalearn[distill]``.

The regressor sees the features ``d`` = r − 1, ``l`` = log r and ``A`` (and ``p``,
``logN`` when the teacher reads progress), the variables LPO's network is built
from, and fits the teacher's f. Each expression on its Pareto front is read back
with our own parser (no ``eval``), checked against Operon's own evaluation,
rewritten in the rule's variables (``d`` → (r − 1), ``l`` → log(r)), tidied by
sympy, and scored *as a rule*: its ``symbolic_drift`` — the anchored, rectified
form that keeps the drift invariants — against the teacher on held-out samples.
"""

from __future__ import annotations

import functools
import operator
from typing import NamedTuple

import numpy as np

from metalearn.distill.samples import DriftSamples
from objectives import symbolic
from objectives.expression import Node, evaluate, literals, parse, to_text

# Operon's operators that our grammar evaluates identically (fmax/fmin print as max/min).
SYMBOLS = "add,sub,mul,div,constant,variable,tanh,exp,log,square,fmax,fmin"
# The regressor's features, as expressions in the rule's variables.
FEATURES = {"d": "r - 1", "l": "log(r)", "A": "A"}
TEMPORAL_FEATURES = {"p": "p", "logN": "logN"}
# Among the Pareto front, the shortest expression within this factor of the best held-out error is chosen.
SELECT_TOLERANCE = 1.1


class Candidate(NamedTuple):
    """One expression of the Pareto front: its rule text, Operon length, and RMSE of the rule vs the teacher."""

    expression: str
    length: int
    train_rmse: float
    val_rmse: float


def features(samples: DriftSamples, temporal: bool) -> tuple[list[str], np.ndarray]:
    """(names, X (n, k) float64) for the regressor."""
    cols = {
        "d": samples.ratio - 1.0,
        "l": np.log(samples.ratio),
        "A": samples.advantage,
    }
    if temporal:
        cols |= {"p": samples.progress, "logN": np.log(np.maximum(samples.num_updates, 1.0))}
    return list(cols), np.stack([np.asarray(v, np.float64) for v in cols.values()], axis=1)


def substitute(tree: Node, mapping: dict[str, Node]) -> Node:
    """``tree`` with each variable named in ``mapping`` replaced by its tree."""
    if tree.op == "var":
        return mapping.get(tree.value, tree)
    return tree._replace(args=tuple(substitute(a, mapping) for a in tree.args))


# ------------------------------------------------------------------ sympy, both ways (no eval)
def to_sympy(tree: Node, digits: int = 4):
    """A sympy expression of ``tree`` (constants rounded to ``digits`` significant digits)."""
    import sympy

    funcs = {
        "exp": sympy.exp,
        "log": sympy.log,
        "tanh": sympy.tanh,
        "abs": sympy.Abs,
        "sqrt": sympy.sqrt,
        "square": lambda x: x**2,
        "sin": sympy.sin,
        "cos": sympy.cos,
        "max": sympy.Max,
        "min": sympy.Min,
    }
    ops = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv, "^": operator.pow}

    def sp(node: Node):
        if node.op == "num":
            v = float(f"{node.value:.{digits}g}")
            return sympy.Integer(int(v)) if v.is_integer() and abs(v) < 1e6 else sympy.Float(v)
        if node.op == "var":
            return sympy.Symbol(node.value, real=True)
        args = [sp(a) for a in node.args]
        if node.op == "neg":
            return -args[0]
        if node.op in ops:
            return ops[node.op](*args)
        return funcs[node.op](*args)

    return sp(tree)


def from_sympy(expr) -> Node:
    """The tree of a sympy expression built from our functions (what :func:`to_sympy` makes)."""
    import sympy

    names = {sympy.exp: "exp", sympy.log: "log", sympy.tanh: "tanh", sympy.Abs: "abs", sympy.sin: "sin",
             sympy.cos: "cos", sympy.Max: "max", sympy.Min: "min"}  # fmt: skip

    def fold(op: str, args: list[Node]) -> Node:
        return functools.reduce(lambda a, b: Node(op, (a, b)), args)

    def tr(e) -> Node:
        if e.is_Number:
            v = float(e)
            return Node("neg", (Node("num", value=-v),)) if v < 0 else Node("num", value=v)
        if e.is_Symbol:
            return Node("var", value=e.name)
        if e.is_Add:
            first, *rest = e.as_ordered_terms()
            node = tr(first)
            for term in rest:  # a term with a negative factor is subtracted: r - 1.2, not r + (-1.2)
                negative = term.as_coeff_Mul()[0] < 0
                node = Node("-" if negative else "+", (node, tr(-term if negative else term)))
            return node
        if e.is_Mul:
            if e.as_coeff_Mul()[0] < 0:
                return Node("neg", (tr(-e),))
            num, den = e.as_numer_denom()
            if den != 1:
                return Node("/", (tr(num), tr(den)))
            return fold("*", [tr(a) for a in e.args])
        if e.is_Pow:
            base, ex = e.as_base_exp()
            if ex == sympy.Rational(1, 2):
                return Node("sqrt", (tr(base),))
            if ex.is_Number and float(ex) < 0:
                return Node("/", (Node("num", value=1.0), tr(base ** (-ex))))
            return Node("^", (tr(base), tr(ex)))
        if e.func in (sympy.Max, sympy.Min):
            return fold(names[e.func], [tr(a) for a in e.args])
        if e.func in names:
            return Node(names[e.func], tuple(tr(a) for a in e.args))
        raise ValueError(f"cannot write {e} ({e.func}) in the rule grammar")

    return tr(expr)


def tidy(tree: Node, digits: int = 4) -> Node:
    """``tree`` with sympy's automatic simplification (numeric factors merged, like terms collected)."""
    return from_sympy(to_sympy(tree, digits))


def latex(text: str, digits: int = 4) -> str:
    """The rule expression ``text`` (in any variables) as LaTeX."""
    import sympy

    return sympy.latex(to_sympy(parse(text), digits))


# ------------------------------------------------------------------ the fit
def search(
    x: np.ndarray,
    y: np.ndarray,
    names: list[str],
    max_length: int = 20,
    generations: int = 100,
    population: int = 500,
    seed: int = 0,
    symbols: str = SYMBOLS,
    max_rows: int = 5000,
) -> list[tuple[Node, int]]:
    """Operon's Pareto front for y (n,) ≈ e(x (n, k)): each expression as our tree in the feature ``names``
    (read back with our parser and checked against Operon's own evaluation) with its Operon length.

    Operon searches expressions of at most ``max_length`` nodes (its complexity budget) for
    ``generations`` generations of ``population``, single-threaded with ``seed``: deterministic.
    The search fits at most ``max_rows`` of the rows (a seeded random subset: its cost grows with the rows).
    """
    try:
        from pyoperon.sklearn import SymbolicRegressor
    except ImportError:
        raise ImportError("symbolic distillation needs pyoperon and sympy: pip install 'metalearn[distill]'") from None

    if max_length < 3 or generations < 1 or population < 2:
        raise ValueError(f"max_length={max_length} >= 3, generations={generations} >= 1, population={population} >= 2")
    rows = np.arange(len(x))
    if len(rows) > max_rows:
        rows = np.sort(np.random.default_rng(seed).choice(len(rows), max_rows, replace=False))
    reg = SymbolicRegressor(
        allowed_symbols=symbols,
        max_length=max_length,
        generations=generations,
        population_size=population,
        objectives=["r2", "length"],
        max_evaluations=generations * population * 10,
        optimizer_iterations=10,  # Levenberg–Marquardt steps on each candidate's constants (0: none)
        n_threads=1,
        random_state=seed,
    )
    reg.fit(x[rows], np.asarray(y, np.float64)[rows])
    front = []
    for model in reg.pareto_front_:
        raw = parse(reg.get_model_string(model["tree"], 12, names), tuple(names))
        ours = np.asarray(evaluate(raw, np.asarray(literals(raw)), dict(zip(names, x.T, strict=True))))
        theirs = reg.evaluate_model(model["tree"], x)
        if not np.allclose(ours, theirs, rtol=1e-4, atol=1e-6 * (1 + np.abs(theirs).max())):
            raise RuntimeError(f"our reading of Operon's expression {raw} disagrees with Operon's own evaluation")
        front.append((raw, int(model["length"])))
    return front


def choose(candidates: list[Candidate]) -> tuple[tuple[Candidate, ...], int]:
    """(the finite candidates, one per expression, sorted by length; index of the chosen one: the shortest within
    ``SELECT_TOLERANCE`` of the best held-out RMSE)."""
    seen: dict[str, Candidate] = {}
    for c in candidates:
        if np.isfinite(c.train_rmse) and np.isfinite(c.val_rmse) and c.expression not in seen:
            seen[c.expression] = c
    if not seen:
        raise RuntimeError("symbolic regression found no expression that is finite on the samples")
    front = tuple(sorted(seen.values(), key=lambda c: (c.length, c.val_rmse)))
    best = min(c.val_rmse for c in front)
    return front, next(i for i, c in enumerate(front) if c.val_rmse <= SELECT_TOLERANCE * best)


def fit_symbolic(
    samples: DriftSamples,
    target: np.ndarray,
    val_samples: DriftSamples,
    val_target: np.ndarray,
    temporal: bool = False,
    seed: int = 0,
    **search_options,
) -> tuple[tuple[Candidate, ...], int]:
    """(the Pareto front of drift expressions as rule candidates, sorted by length; index of the chosen one).

    :func:`search` on the drift's features (``search_options``: its ``max_length``, ``generations``,
    ``population``, ``symbols``, ``max_rows``); every candidate is then scored as a rule
    (``symbolic_drift``, anchored) on all the samples, and chosen by :func:`choose`.
    """
    from metalearn.distill.samples import drift_fn
    from metalearn.rules import make_rule

    names, x = features(samples, temporal)
    mapping = {k: symbolic.parse(v) for k, v in (FEATURES | (TEMPORAL_FEATURES if temporal else {})).items()}
    f_train = np.asarray(target, np.float64)
    f_val = np.asarray(val_target, np.float64)
    candidates = []
    for raw, length in search(x, target, names, seed=seed, **search_options):
        text = to_text(tidy(substitute(raw, mapping)))
        rule = make_rule("symbolic_drift", expression=text)
        fn = drift_fn(rule, rule.init(None))
        rmse = [
            float(np.sqrt(np.mean((np.asarray(fn(*s)) - f) ** 2)))
            for s, f in ((samples, f_train), (val_samples, f_val))
        ]
        candidates.append(Candidate(text, length, *rmse))
    return choose(candidates)


def python(text: str, digits: int = 6, signature: str = "r, A, p=0.0, logN=0.0") -> str:
    """The expression e as a JAX function ``e(signature)`` (sympy's JAX printer)."""
    from sympy.printing.numpy import JaxPrinter

    body = JaxPrinter().doprint(to_sympy(parse(text), digits))
    return f"import functools\n\nimport jax.numpy\n\n\ndef e({signature}):\n    return {body}"
