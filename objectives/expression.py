"""Closed-form expressions as rules: a small, safe parser and a JAX evaluator.

A distilled rule (``metalearn distill … --into symbolic``) is an expression in
plain maths text, for example ``0.5 * (r - 1 - log(r)) * abs(A)``. This module
turns such text into a tree and evaluates it with ``jax.numpy``. It never calls
``eval``: a rule file's text is parsed by the grammar below and nothing else,
so loading a user's file cannot run code.

Grammar (the usual precedence; ``^`` and ``**`` are powers, right-associative)::

    expr  := term (("+" | "-") term)*
    term  := unary (("*" | "/") unary)*
    unary := "-" unary | power
    power := atom (("^" | "**") unary)?
    atom  := NUMBER | NAME | NAME "(" expr ("," expr)* ")" | "(" expr ")"

Functions: ``FUNCTIONS`` (exp, log, tanh, abs, sqrt, square, max, min, …).
Numbers are the expression's *constants*: ``literals(tree)`` lists them in
reading order, and ``evaluate(tree, c, env)`` reads them from the array ``c``
instead, so a rule can carry tuned constants as meta-parameters.

``directional(tree, c, env, var, direction)`` is a forward-mode pass that also
returns the one-sided derivative along ``var`` in ``direction`` (±1), exact for
max/min/abs at their kinks (where plain autodiff picks one side).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import NamedTuple

import jax
import jax.numpy as jnp

# name -> (number of arguments, function on values)
FUNCTIONS = {
    "exp": (1, jnp.exp),
    "log": (1, jnp.log),
    "tanh": (1, jnp.tanh),
    "abs": (1, jnp.abs),
    "sqrt": (1, jnp.sqrt),
    "square": (1, jnp.square),
    "sin": (1, jnp.sin),
    "cos": (1, jnp.cos),
    "max": (2, jnp.maximum),
    "min": (2, jnp.minimum),
}
BINARY = ("+", "-", "*", "/", "^")
MAX_LENGTH = 4000  # characters: a bigger text is not an expression we wrote

_TOKEN = re.compile(r"\s*(?:(\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?)|([A-Za-z_]\w*)|(\*\*|[-+*/^(),]))")


class Node(NamedTuple):
    """A tree node: ``op`` is "num" (``value`` the float), "var" (``value`` the name), "neg",
    a binary operator in ``BINARY``, or a function name in ``FUNCTIONS``."""

    op: str
    args: tuple = ()
    value: float | str | None = None


def _tokens(text: str) -> list[str]:
    if not isinstance(text, str):
        raise ValueError(f"expression {text!r} is not text")
    if len(text) > MAX_LENGTH:
        raise ValueError(f"expression of {len(text)} characters; allowed: at most {MAX_LENGTH}")
    out, pos = [], 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise ValueError(f"expression {text!r}: cannot read {text[pos : pos + 10]!r} at character {pos}")
        out.append(m.group(m.lastindex))
        pos = m.end()
    return out


def parse(text: str, variables: tuple[str, ...] | None = None) -> Node:
    """The tree of ``text``; ``variables`` (if given) are the only names allowed besides functions."""
    toks = _tokens(text)
    pos = 0

    def peek() -> str | None:
        return toks[pos] if pos < len(toks) else None

    def take(expected: str | None = None) -> str:
        nonlocal pos
        tok = peek()
        if tok is None or (expected is not None and tok != expected):
            found = "the end" if tok is None else repr(tok)
            raise ValueError(f"expression {text!r}: expected {expected or 'more'} but found {found}")
        pos += 1
        return tok

    def expr() -> Node:
        node = term()
        while peek() in ("+", "-"):
            op = take()
            node = Node(op, (node, term()))
        return node

    def term() -> Node:
        node = unary()
        while peek() in ("*", "/"):
            op = take()
            node = Node(op, (node, unary()))
        return node

    def unary() -> Node:
        if peek() == "-":
            take()
            return Node("neg", (unary(),))
        if peek() == "+":
            take()
            return unary()
        return power()

    def power() -> Node:
        base = atom()
        if peek() in ("^", "**"):
            take()
            return Node("^", (base, unary()))
        return base

    def atom() -> Node:
        tok = take()
        if tok == "(":
            node = expr()
            take(")")
            return node
        if tok[0].isdigit() or tok[0] == ".":
            return Node("num", value=float(tok))
        if re.fullmatch(r"[A-Za-z_]\w*", tok):
            if peek() == "(":
                if tok not in FUNCTIONS:
                    raise ValueError(f"expression {text!r}: unknown function {tok!r}; allowed: {', '.join(FUNCTIONS)}")
                take("(")
                args = [expr()]
                while peek() == ",":
                    take(",")
                    args.append(expr())
                take(")")
                arity = FUNCTIONS[tok][0]
                if len(args) != arity:
                    raise ValueError(f"expression {text!r}: {tok} takes {arity} argument(s), got {len(args)}")
                return Node(tok, tuple(args))
            if variables is not None and tok not in variables:
                raise ValueError(f"expression {text!r}: unknown variable {tok!r}; allowed: {', '.join(variables)}")
            return Node("var", value=tok)
        raise ValueError(f"expression {text!r}: unexpected {tok!r}")

    tree = expr()
    if pos != len(toks):
        raise ValueError(f"expression {text!r}: unexpected {toks[pos]!r} after a complete expression")
    return tree


def literals(tree: Node) -> list[float]:
    """The numbers in ``tree`` in reading order (the constants ``evaluate`` reads from ``c``)."""
    if tree.op == "num":
        return [float(tree.value)]
    return [x for arg in tree.args for x in literals(arg)]


def constants(tree: Node) -> jax.Array:
    """(k,) float32 ``literals(tree)``: a closed-form rule's meta-parameters ``c`` as its text writes them."""
    return jnp.asarray(literals(tree), jnp.float32).reshape(-1)


def variables(tree: Node) -> set[str]:
    """The variable names ``tree`` reads."""
    if tree.op == "var":
        return {tree.value}
    return set().union(set(), *(variables(a) for a in tree.args))


def size(tree: Node) -> int:
    """Number of nodes (a complexity measure)."""
    return 1 + sum(size(a) for a in tree.args)


def _apply(op: str, vals: list) -> jax.Array:
    if op == "neg":
        return -vals[0]
    if op == "+":
        return vals[0] + vals[1]
    if op == "-":
        return vals[0] - vals[1]
    if op == "*":
        return vals[0] * vals[1]
    if op == "/":
        return vals[0] / vals[1]
    if op == "^":
        return jnp.power(vals[0], vals[1])
    return FUNCTIONS[op][1](*vals)


def evaluate(tree: Node, c: jax.Array, env: Mapping[str, jax.Array]) -> jax.Array:
    """The value of ``tree`` with its constants read from ``c`` (len(literals(tree)),) and variables
    from ``env`` (arrays that broadcast together)."""
    counter = iter(range(len(literals(tree))))

    def ev(node: Node):
        if node.op == "num":
            return c[next(counter)]
        if node.op == "var":
            return env[node.value]
        return _apply(node.op, [ev(a) for a in node.args])

    return ev(tree)


def directional(
    tree: Node, c: jax.Array, env: Mapping[str, jax.Array], var: str, direction: float
) -> tuple[jax.Array, jax.Array]:
    """(value, one-sided derivative along ``var`` in ``direction`` = +1 or −1).

    Forward mode with exact one-sided rules at kinks: the directional derivative of
    max(a, b) at a tie is max(a', b') (min: min), of |a| at a = 0 is |a'|. Smooth
    operations use the chain rule, so away from kinks this is ``direction`` times
    the ordinary derivative.
    """
    counter = iter(range(len(literals(tree))))

    def ev(node: Node):
        if node.op == "num":
            v = c[next(counter)]
            return v, jnp.zeros_like(v)
        if node.op == "var":
            v = env[node.value]
            return v, jnp.full_like(v, direction if node.value == var else 0.0)
        pairs = [ev(a) for a in node.args]
        vals = [p[0] for p in pairs]
        op = node.op
        if op in ("max", "min"):
            (a, da), (b, db) = pairs
            pick = jnp.maximum if op == "max" else jnp.minimum
            a_wins = a > b if op == "max" else a < b
            d = jnp.where(a == b, pick(da, db), jnp.where(a_wins, da, db))
            return pick(a, b), d
        if op == "abs":
            (a, da) = pairs[0]
            return jnp.abs(a), jnp.where(a == 0, jnp.abs(da), jnp.sign(a) * da)
        if op == "^":
            # x^y: jvp's log(x)·x^y·dy term is NaN for x < 0 even where dy = 0 (A^2 with A < 0); drop it there.
            (x, dx), (y, dy) = pairs
            v = jnp.power(x, y)
            dy_term = jnp.where(dy == 0, 0.0, jnp.log(jnp.where(dy == 0, 1.0, x)) * v * dy)
            return v, y * jnp.power(x, y - 1) * dx + dy_term
        # Smooth operations: the chain rule via jax's jvp on the operation itself.
        tangents = [p[1] for p in pairs]
        return jax.jvp(lambda *xs: _apply(op, list(xs)), tuple(vals), tuple(tangents))

    return ev(tree)


def to_text(tree: Node, c=None, digits: int = 6) -> str:
    """Plain text of ``tree`` (constants from ``c`` if given), parsable by :func:`parse`."""
    values = [float(v) for v in (literals(tree) if c is None else list(map(float, c)))]
    counter = iter(values)

    def num(v: float) -> str:
        if not math.isfinite(v):
            raise ValueError(f"constant {v} is not finite")
        return f"{v:.{digits}g}"

    def tx(node: Node, parent: int = 0) -> str:
        if node.op == "num":
            v = next(counter)
            s = num(abs(v))
            return f"(-{s})" if v < 0 else s
        if node.op == "var":
            return node.value
        if node.op == "neg":
            return f"(-{tx(node.args[0], 3)})"
        if node.op in BINARY:
            prec = {"+": 1, "-": 1, "*": 2, "/": 2, "^": 4}[node.op]
            left = tx(node.args[0], prec)
            # the right operand of - and / (and the exponent) binds tighter to keep the meaning
            right = tx(node.args[1], prec + (node.op in ("-", "/", "^")))
            s = f"{left} {node.op} {right}" if node.op != "^" else f"{left}^{right}"
            return f"({s})" if prec < parent or (node.op == "^" and parent >= 4) else s
        return f"{node.op}({', '.join(tx(a) for a in node.args)})"

    return tx(tree)
