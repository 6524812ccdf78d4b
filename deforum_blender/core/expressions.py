"""Safe maths expressions for schedule values: parse once, evaluate per frame with numpy.

A small hand-written parser (never ``eval``, ``exec`` or Python's own compiler) reads the
arithmetic that Deforum users write in schedules — numbers, the variables ``t`` (also
``i``), ``max_f`` and ``s``, ``+ - * / // % **``, comparisons, ``& | ~`` and a whitelist of
maths functions — into a tree of known operations. Everything else (attribute access,
subscripts, strings, lambdas, unknown names or functions) is refused with the character
position. Precedence follows Python's, which is what numexpr (Deforum's evaluator) uses.

Cost is bounded before anything is computed: texts longer than ``MAX_EXPRESSION_LENGTH``
characters and nesting deeper than ``MAX_NESTING`` levels are refused, all arithmetic is
float64 (so ``9**9**9`` overflows to a refusal instead of building a huge integer), and
constant sub-expressions are folded at compile time so such overflows are reported
before the first frame is evaluated. A result that is not a finite number (division by
zero, ``sqrt(-1)``, overflow) is an error naming the frame and the sub-expression; with
``allow_nan`` (schedule values, which Deforum fills where they are NaN) only infinities are.
"""

from __future__ import annotations

import difflib
import functools
import keyword
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from .errors import DeforumInputError

FloatArray = NDArray[np.float64]
Value = FloatArray | float

MAX_EXPRESSION_LENGTH = 10_000
MAX_NESTING = 100

VARIABLES = ("t", "i", "max_f", "s")
CONSTANTS: dict[str, float] = {"pi": math.pi, "e": math.e}


@dataclass(frozen=True)
class _Function:
    apply: Callable[..., Value]
    min_args: int
    max_args: int


def _min(*args: Value) -> Value:
    return functools.reduce(np.minimum, args)  # type: ignore[no-any-return]


def _max(*args: Value) -> Value:
    return functools.reduce(np.maximum, args)  # type: ignore[no-any-return]


def _clip(x: Value, low: Value, high: Value) -> Value:
    return np.minimum(np.maximum(x, low), high)  # type: ignore[no-any-return]


def _where(condition: Value, if_true: Value, if_false: Value) -> Value:
    return np.where(np.asarray(condition) != 0, if_true, if_false)  # type: ignore[no-any-return]


def _round(x: Value, digits: Value = 0.0) -> Value:
    return np.round(x, int(digits))  # type: ignore[no-any-return, call-overload]


# A table, not a chain of ifs: name -> numpy implementation and arity.
FUNCTIONS: dict[str, _Function] = {
    "sin": _Function(np.sin, 1, 1),
    "cos": _Function(np.cos, 1, 1),
    "tan": _Function(np.tan, 1, 1),
    "asin": _Function(np.arcsin, 1, 1),
    "acos": _Function(np.arccos, 1, 1),
    "atan": _Function(np.arctan, 1, 1),
    "atan2": _Function(np.arctan2, 2, 2),
    "sinh": _Function(np.sinh, 1, 1),
    "cosh": _Function(np.cosh, 1, 1),
    "tanh": _Function(np.tanh, 1, 1),
    "asinh": _Function(np.arcsinh, 1, 1),
    "acosh": _Function(np.arccosh, 1, 1),
    "atanh": _Function(np.arctanh, 1, 1),
    "sqrt": _Function(np.sqrt, 1, 1),
    "exp": _Function(np.exp, 1, 1),
    "expm1": _Function(np.expm1, 1, 1),
    "log": _Function(np.log, 1, 1),
    "log10": _Function(np.log10, 1, 1),
    "log1p": _Function(np.log1p, 1, 1),
    "abs": _Function(np.abs, 1, 1),
    "floor": _Function(np.floor, 1, 1),
    "ceil": _Function(np.ceil, 1, 1),
    "round": _Function(_round, 1, 2),
    "min": _Function(_min, 2, 64),
    "max": _Function(_max, 2, 64),
    "clip": _Function(_clip, 3, 3),
    "where": _Function(_where, 3, 3),
}
# numexpr's spellings, so Deforum files that use them keep working.
ALIASES = {
    "arcsin": "asin",
    "arccos": "acos",
    "arctan": "atan",
    "arctan2": "atan2",
    "arcsinh": "asinh",
    "arccosh": "acosh",
    "arctanh": "atanh",
}

_BINARY: dict[str, tuple[int, Callable[[Value, Value], Value]]] = {
    "|": (2, lambda a, b: ((np.asarray(a) != 0) | (np.asarray(b) != 0)).astype(np.float64)),
    "&": (3, lambda a, b: ((np.asarray(a) != 0) & (np.asarray(b) != 0)).astype(np.float64)),
    "+": (4, np.add),
    "-": (4, np.subtract),
    "*": (5, np.multiply),
    "/": (5, np.true_divide),
    "//": (5, np.floor_divide),
    "%": (5, np.mod),
}
_COMPARE: dict[str, Callable[[Value, Value], Value]] = {
    "<": np.less,
    "<=": np.less_equal,
    ">": np.greater,
    ">=": np.greater_equal,
    "==": np.equal,
    "!=": np.not_equal,
}
_UNARY: dict[str, Callable[[Value], Value]] = {
    "-": np.negative,
    "+": np.positive,
    "~": lambda a: (np.asarray(a) == 0).astype(np.float64),
}
_PYTHON_WORDS = frozenset(keyword.kwlist) | {"exec", "eval", "open", "compile", "getattr"}

_TOKEN = re.compile(
    r"(?P<space>\s+)"
    r"|(?P<number>(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)"
    r"|(?P<name>[A-Za-z_][A-Za-z_0-9]*)"
    r"|(?P<op>\*\*|//|<=|>=|==|!=|[-+*/%<>&|~(),])"
)
_HINTS = {
    "^": "use ** for powers",
    "[": "subscripts ([...]) are not allowed",
    "]": "subscripts ([...]) are not allowed",
    "{": "braces are not allowed",
    "}": "braces are not allowed",
    ":": "':' belongs between a frame number and its value, not inside a value",
    "=": "'=' assigns; compare with '=='",
    ";": "';' is not allowed",
    "#": "comments are not allowed",
    "\\": "backslashes are not allowed",
    "'": "quotes are not allowed inside an expression",
    '"': "quotes are not allowed inside an expression",
}


class ExpressionError(DeforumInputError):
    """A refused or failing expression: ``problem`` says what, ``position`` where (absolute)."""

    def __init__(self, problem: str, position: int | None, frame: int | None = None) -> None:
        super().__init__(problem if position is None else f"{problem} (position {position})")
        self.problem = problem
        self.position = position
        self.frame = frame

    def __reduce__(self) -> tuple[type[ExpressionError], tuple[str, int | None, int | None]]:
        return (type(self), (self.problem, self.position, self.frame))


@dataclass(slots=True)
class _Node:
    kind: str  # "const", "var", "unary", "binary", "compare", "call"
    start: int  # relative to the expression text
    end: int
    op: str = ""
    children: list[_Node] = field(default_factory=list)
    value: float = 0.0
    literal: bool = False  # a number as written, maybe signed or parenthesised
    ops: tuple[str, ...] = ()  # comparison chain
    inner: tuple[int, int] | None = None  # span without enclosing parentheses, for messages

    @property
    def span(self) -> tuple[int, int]:
        return self.inner or (self.start, self.end)

    def compute(self, args: list[Value], env: Mapping[str, Value]) -> Value:
        """This node's value from its children's values."""
        if self.kind == "const":
            return self.value
        if self.kind == "var":
            return env[self.op]
        if self.kind == "unary":
            return _UNARY[self.op](args[0])
        if self.kind == "binary":
            if self.op == "**":
                return np.power(args[0], args[1])  # type: ignore[no-any-return]
            return _BINARY[self.op][1](args[0], args[1])
        if self.kind == "compare":
            result: Value = 1.0
            for index, op in enumerate(self.ops):
                holds = _COMPARE[op](args[index], args[index + 1])
                result = np.logical_and(result, holds)
            return np.asarray(result, dtype=np.float64)
        return FUNCTIONS[self.op].apply(*args)


def _postorder(root: _Node) -> list[_Node]:
    """Children before parents, without recursion (left-deep sums can be thousands long)."""
    order: list[_Node] = []
    stack: list[tuple[_Node, bool]] = [(root, False)]
    while stack:
        node, expanded = stack.pop()
        if expanded or not node.children:
            order.append(node)
            continue
        stack.append((node, True))
        stack.extend((child, False) for child in reversed(node.children))
    return order


def _failure_reason(node: _Node, args: list[float]) -> str:
    """Why ``node`` turned finite inputs into a non-finite result, in the user's words."""
    op = node.op
    if node.kind == "binary":
        left, right = args
        if op in ("/", "//", "%") and right == 0:
            return "division by zero"
        if op == "**":
            if left == 0 and right < 0:
                return "zero to a negative power (division by zero)"
            if left < 0 and right != math.floor(right):
                return "a negative number to a fractional power"
        return "the result is too large (overflow)"
    if node.kind == "call":
        x = args[0]
        if op == "sqrt" and x < 0:
            return "square root of a negative number"
        if op in ("log", "log10"):
            return "logarithm of zero" if x == 0 else "logarithm of a negative number"
        if op == "log1p":
            return "logarithm of zero" if x == -1 else "logarithm of a negative number"
        if op in ("asin", "acos"):
            return f"{op} of a number outside -1..1"
        if op == "acosh":
            return "acosh of a number below 1"
        if op == "atanh":
            return "atanh of a number outside -1..1"
    return "the result is too large (overflow)"


@dataclass(frozen=True, eq=False)
class Expression:
    """A compiled expression: evaluate it for many frames at once with :meth:`evaluate`."""

    source: str
    offset: int  # position of ``source[0]`` in the text it came from (for messages)
    variables: frozenset[str]  # the variable names it uses
    literal: float | None  # the number, when the text is just a number (maybe signed)
    constant: float | None  # the value, when it uses no variable
    _program: tuple[_Node, ...]
    _root: _Node

    @property
    def size(self) -> int:
        """Number of operations: the cost of one evaluation per frame."""
        return len(self._program)

    def evaluate(
        self, t: FloatArray, variables: Mapping[str, float], *, allow_nan: bool = False
    ) -> FloatArray:
        """Values at the frames ``t`` (``i`` is the same), with ``max_f`` and ``s`` given.

        Raises :class:`ExpressionError` naming the first frame whose value is not finite
        (with ``allow_nan``, only an infinite value is refused: NaN is returned).
        """
        env: dict[str, Value] = {**variables, "t": t, "i": t}
        values: list[Value] = []
        with np.errstate(all="ignore"):
            # Iterative stack machine: each node pops its children's values.
            for node in self._program:
                count = len(node.children)
                if count:
                    args = values[-count:]
                    del values[-count:]
                else:
                    args = []
                values.append(node.compute(args, env))
        result = np.broadcast_to(np.asarray(values[0], dtype=np.float64), t.shape)
        finite = np.isfinite(result)
        if allow_nan:
            finite |= np.isnan(result)
        if not finite.all():
            bad = int(np.argmin(finite))
            raise self.diagnose(float(t[bad]), variables)
        return np.array(result, dtype=np.float64)

    def evaluate_at(self, t: float, variables: Mapping[str, float]) -> float:
        """The value at one frame."""
        return float(self.evaluate(np.array([t], dtype=np.float64), variables)[0])

    def diagnose(self, t: float, variables: Mapping[str, float]) -> ExpressionError:
        """Find the operation that first produced a non-finite value at frame ``t``."""
        env: dict[str, Value] = {**variables, "t": t, "i": t}
        results: dict[int, float] = {}
        with np.errstate(all="ignore"):
            for node in self._program:
                args = [results[id(child)] for child in node.children]
                results[id(node)] = float(np.asarray(node.compute(list(args), env)))
        node = self._root
        while True:
            suspects = node.children
            if node.kind == "call" and node.op == "where":
                condition = results[id(node.children[0])]
                chosen = node.children[1] if condition != 0 else node.children[2]
                suspects = [node.children[0], chosen]
            culprit = next((c for c in suspects if not math.isfinite(results[id(c)])), None)
            if culprit is None:
                break
            node = culprit
        reason = _failure_reason(node, [results[id(c)] for c in node.children])
        start, end = node.span
        return ExpressionError(
            f"{reason} at frame {int(t)} in '{_one_line(self.source[start:end])}'",
            self.offset + start,
            int(t),
        )


class _Parser:
    """Precedence climbing over a token list; recursion is bounded by ``MAX_NESTING``."""

    def __init__(
        self, source: str, offset: int, allowed: tuple[str, ...], allow_nan: bool = False
    ) -> None:
        self.source = source
        self.offset = offset
        self.allowed = allowed
        self.allow_nan = allow_nan
        self.tokens = self._tokenize()
        self.index = 0
        self.depth = 0
        self.used: set[str] = set()

    def fail(self, problem: str, start: int) -> ExpressionError:
        return ExpressionError(problem, self.offset + start)

    def _tokenize(self) -> list[tuple[str, str, int]]:
        tokens: list[tuple[str, str, int]] = []
        position = 0
        source = self.source
        while position < len(source):
            match = _TOKEN.match(source, position)
            if match is None:
                char = source[position]
                if char == "." and source[position + 1 : position + 2].isidentifier():
                    hint = "attribute access ('.name') is not allowed"
                elif not char.isascii():
                    hint = "only ASCII letters, digits and operators are allowed"
                else:
                    hint = _HINTS.get(char, "it is not part of the allowed arithmetic")
                raise self.fail(f"character {char!r} is not allowed: {hint}", position)
            kind = match.lastgroup or ""
            if kind != "space":
                tokens.append((kind, match.group(), position))
            position = match.end()
        tokens.append(("end", "", len(source)))
        return tokens

    def peek(self) -> tuple[str, str, int]:
        return self.tokens[self.index]

    def advance(self) -> tuple[str, str, int]:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def enter(self, start: int) -> None:
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise self.fail(f"nested more than {MAX_NESTING} levels deep", start)

    def parse(self) -> _Node:
        if self.peek()[0] == "end":
            raise self.fail("empty expression: write a number or a formula", 0)
        node = self.expression(1)
        kind, text, start = self.peek()
        if kind != "end":
            raise self.unexpected(kind, text, start)
        return node

    def unexpected(self, kind: str, text: str, start: int) -> ExpressionError:
        if kind == "end":
            return self.fail("the expression ends too early", start)
        previous = self.tokens[self.index - 1] if self.index else None
        if (
            previous is not None
            and previous[0] == "number"
            and kind == "name"
            and previous[2] + len(previous[1]) == start
        ):
            return self.fail(f"write {previous[1]}*{text} to multiply", previous[2])
        if text == ",":
            return self.fail("a comma is only allowed between a function's arguments", start)
        if text == "(" and previous is not None and previous[1] == ")":
            return self.fail("write * between ')' and '(' to multiply", start)
        return self.fail(f"unexpected {text!r}", start)

    def expression(self, min_precedence: int) -> _Node:
        left = self.unary()
        while True:
            kind, text, _ = self.peek()
            if kind != "op":
                return left
            if text in _COMPARE and min_precedence <= 1:
                operands = [left]
                ops: list[str] = []
                while self.peek()[1] in _COMPARE:
                    ops.append(self.advance()[1])
                    operands.append(self.expression(2))
                left = self.make(
                    _Node(
                        "compare", left.start, operands[-1].end, children=operands, ops=tuple(ops)
                    )
                )
                continue
            if text in _BINARY and _BINARY[text][0] >= min_precedence:
                self.advance()
                right = self.expression(_BINARY[text][0] + 1)
                left = self.make(_Node("binary", left.start, right.end, text, [left, right]))
                continue
            return left

    def unary(self) -> _Node:
        kind, text, start = self.peek()
        if kind == "op" and text in _UNARY:
            self.advance()
            self.enter(start)
            operand = self.unary()
            self.depth -= 1
            node = self.make(_Node("unary", start, operand.end, text, [operand]))
            node.literal = operand.literal and text != "~"
            return node
        return self.power()

    def power(self) -> _Node:
        base = self.primary()
        kind, text, start = self.peek()
        if kind == "op" and text == "**":
            self.advance()
            self.enter(start)
            exponent = self.unary()
            self.depth -= 1
            return self.make(_Node("binary", base.start, exponent.end, "**", [base, exponent]))
        return base

    def primary(self) -> _Node:
        kind, text, start = self.advance()
        if kind == "number":
            value = float(text)
            if not math.isfinite(value):
                raise self.fail(f"the number {text[:20]} is too large", start)
            return _Node("const", start, start + len(text), value=value, literal=True)
        if kind == "name":
            if self.peek()[1] == "(":
                return self.call(text, start)
            return self.name(text, start)
        if text == "(":
            self.enter(start)
            inner = self.expression(1)
            self.depth -= 1
            close_kind, close, close_start = self.advance()
            if close != ")":
                if close == "," and inner.kind == "const" and inner.literal:
                    next_kind, digits, _ = self.peek()
                    written = self.source[inner.start : inner.end]
                    if next_kind == "number" and digits.isdigit() and written.isdigit():
                        raise self.fail(f"decimal comma: write {written}.{digits}", close_start)
                raise self.unexpected(close_kind, close, close_start)
            inner.inner = inner.span
            inner.start, inner.end = start, close_start + 1
            return inner
        raise self.unexpected(kind, text, start)

    def name(self, text: str, start: int) -> _Node:
        if text in self.allowed:
            self.used.add(text)
            return _Node("var", start, start + len(text), text)
        if text in CONSTANTS:
            return _Node("const", start, start + len(text), value=CONSTANTS[text])
        if text in FUNCTIONS or text in ALIASES:
            raise self.fail(f"{text} is a function: write {text}(...)", start)
        raise self.fail(self.unknown(text, "name"), start)

    def unknown(self, text: str, kind: str) -> str:
        names = [*self.allowed, *CONSTANTS]
        functions = [*FUNCTIONS, *ALIASES]
        if text in _PYTHON_WORDS or text.startswith("__"):
            problem = f"{text!r} is not allowed"
        else:
            problem = f"unknown {kind} {text!r}"
            close = difflib.get_close_matches(text, names + functions, n=1)
            if close:
                problem += f" (did you mean {close[0]!r}?)"
        return f"{problem}; allowed names: {', '.join(names)}; functions: {', '.join(FUNCTIONS)}"

    def call(self, name: str, start: int) -> _Node:
        function_name = ALIASES.get(name, name)
        if function_name not in FUNCTIONS:
            raise self.fail(self.unknown(name, "function"), start)
        function = FUNCTIONS[function_name]
        self.advance()  # "("
        self.enter(start)
        args: list[_Node] = []
        if self.peek()[1] != ")":
            while True:
                args.append(self.expression(1))
                if self.peek()[1] != ",":
                    break
                self.advance()
        kind, text, close_start = self.advance()
        if text != ")":
            raise self.unexpected(kind, text, close_start)
        self.depth -= 1
        if not function.min_args <= len(args) <= function.max_args:
            wanted = (
                str(function.min_args)
                if function.min_args == function.max_args
                else f"{function.min_args} to {function.max_args}"
            )
            raise self.fail(f"{name}() takes {wanted} arguments, not {len(args)}", start)
        if function_name == "round" and len(args) == 2:
            digits = args[1]
            if (
                digits.kind != "const"
                or digits.value != int(digits.value)
                or abs(digits.value) > 15
            ):
                raise self.fail(
                    "round(x, n): n must be a whole number from -15 to 15", digits.start
                )
        return self.make(_Node("call", start, close_start + 1, function_name, args))

    def make(self, node: _Node) -> _Node:
        """Fold constant sub-expressions now, so overflows are refused before any frame."""
        if not all(child.kind == "const" for child in node.children):
            return node
        args: list[Value] = [child.value for child in node.children]
        with np.errstate(all="ignore"):
            value = float(np.asarray(node.compute(args, {})))
        if math.isnan(value) and self.allow_nan:
            return node  # left unfolded: evaluation returns NaN and diagnose() explains it
        if not math.isfinite(value):
            reason = _failure_reason(node, [float(a) for a in args])
            start, end = node.span
            raise self.fail(f"{reason} in '{_one_line(self.source[start:end])}'", start)
        return _Node("const", node.start, node.end, value=value)


@functools.lru_cache(maxsize=1024)
def compile_expression(
    source: str, variables: tuple[str, ...] = VARIABLES, offset: int = 0, allow_nan: bool = False
) -> Expression:
    """Parse ``source`` into an :class:`Expression`; refuse anything outside the whitelist.

    ``variables`` are the names in scope (frame keys allow only ``max_f`` and ``s``);
    ``offset`` is added to every reported position; ``allow_nan`` keeps a constant NaN
    part (``sqrt(-1)``) for evaluation instead of refusing it.
    """
    if len(source) > MAX_EXPRESSION_LENGTH:
        raise ExpressionError(
            f"the expression is {len(source)} characters long; "
            f"the limit is {MAX_EXPRESSION_LENGTH}",
            offset,
        )
    parser = _Parser(source, offset, variables, allow_nan)
    try:
        root = parser.parse()
    except RecursionError:  # only if the caller's stack was already deep
        raise ExpressionError("the expression is nested too deeply", offset) from None
    program = tuple(_postorder(root))
    return Expression(
        source=source,
        offset=offset,
        variables=frozenset(parser.used),
        literal=root.value if root.literal and root.kind == "const" else None,
        constant=root.value if root.kind == "const" else None,
        _program=program,
        _root=root,
    )


def _one_line(source: str) -> str:
    """A piece of an expression for an error message: line breaks and runs of spaces as one."""
    return " ".join(source.split())
