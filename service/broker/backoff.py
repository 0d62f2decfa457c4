"""How long to wait before a retry: the destination's hint, the publisher's expression, or QStash's default.

`Upstash-Retry-Delay` is arithmetic over `retried` in milliseconds. It comes from the
network, so it is parsed with `ast` and walked against a whitelist, never `eval`ed; numbers
are floats so `pow` cannot build giant integers.
"""

import ast
import math
import operator
import re
from collections.abc import Callable, Mapping
from datetime import UTC
from email.utils import parsedate_to_datetime

MAX_DELAY_S = 86400.0
MAX_EXPRESSION_LENGTH = 512

_BINARY: dict[type, Callable[[float, float], float]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: math.pow,
}
_UNARY: dict[type, Callable[[float], float]] = {
    ast.USub: operator.neg,
    ast.UAdd: operator.pos,
}
_FUNCTIONS: dict[str, Callable[..., float]] = {
    "pow": math.pow,
    "sqrt": math.sqrt,
    "abs": abs,
    "exp": math.exp,
    "floor": math.floor,
    "ceil": math.ceil,
    "round": round,
    "min": min,
    "max": max,
}
_GO_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_GO_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
_HINT_HEADERS = (
    "retry-after",
    "x-ratelimit-reset",
    "x-ratelimit-reset-requests",
    "x-ratelimit-reset-tokens",
)


class InvalidExpression(ValueError):
    pass


def default_backoff_s(retried: int) -> float:
    """QStash's documented `min(86400, e ** (2.5 * n))`, n = retries so far including this one."""
    try:
        return min(MAX_DELAY_S, math.exp(2.5 * retried))
    except OverflowError:
        return MAX_DELAY_S


def compile_retry_delay(expression: str) -> ast.Expression:
    """Parse and check the expression at publish time, so a bad one is a 400, not a stuck message."""
    if len(expression) > MAX_EXPRESSION_LENGTH:
        raise InvalidExpression("retry delay expression is too long")
    try:
        tree = ast.parse(expression, mode="eval")
    except SyntaxError as error:
        raise InvalidExpression(f"invalid retry delay expression: {error.msg}") from None
    callees = {id(node.func) for node in ast.walk(tree) if isinstance(node, ast.Call)}
    for node in ast.walk(tree):
        if id(node) not in callees:
            _check(node)
    return tree


def retry_delay_s(expression: str, retried: int) -> float:
    """Seconds from a millisecond expression; `retried` is 0 before the first retry."""
    try:
        milliseconds = _evaluate(compile_retry_delay(expression).body, float(retried))
    except (OverflowError, ZeroDivisionError, ValueError):
        return MAX_DELAY_S
    return min(MAX_DELAY_S, max(0.0, milliseconds / 1000))


def hinted_delay_s(headers: Mapping[str, str], now: float) -> float | None:
    """The destination's own `Retry-After`-style hint, if it gave a usable one under a day."""
    for name in _HINT_HEADERS:
        value = headers.get(name)
        if value is not None:
            seconds = _hint_seconds(value.strip(), now)
            if seconds is not None and 0 <= seconds <= MAX_DELAY_S:
                return seconds
    return None


def _check(node: ast.AST) -> None:
    allowed = (
        ast.Expression,
        ast.BinOp,
        ast.UnaryOp,
        ast.Call,
        ast.Name,
        ast.Constant,
        ast.Load,
    )
    if not isinstance(node, allowed) and type(node) not in _BINARY and type(node) not in _UNARY:
        raise InvalidExpression(f"invalid retry delay expression: {type(node).__name__} not allowed")
    if isinstance(node, ast.Constant) and (isinstance(node.value, bool) or not isinstance(node.value, int | float)):
        raise InvalidExpression("invalid retry delay expression: only numbers are allowed")
    if isinstance(node, ast.Name) and node.id != "retried":
        raise InvalidExpression(f"invalid retry delay expression: unknown name {node.id!r}")
    if isinstance(node, ast.Call) and (
        not isinstance(node.func, ast.Name) or node.func.id not in _FUNCTIONS or node.keywords or not node.args
    ):
        raise InvalidExpression("invalid retry delay expression: unknown function call")


def _evaluate(node: ast.expr, retried: float) -> float:
    match node:
        case ast.Constant(value=int() | float() as value):  # _validate let only numbers through
            return float(value)
        case ast.Name(id="retried"):
            return retried
        case ast.BinOp(left=left, op=op, right=right):
            return _BINARY[type(op)](_evaluate(left, retried), _evaluate(right, retried))
        case ast.UnaryOp(op=op, operand=operand):
            return _UNARY[type(op)](_evaluate(operand, retried))
        case ast.Call(func=ast.Name(id=name), args=args):
            return float(_FUNCTIONS[name](*(_evaluate(arg, retried) for arg in args)))
    raise InvalidExpression(f"invalid retry delay expression: {ast.dump(node)}")


def _hint_seconds(value: str, now: float) -> float | None:
    if re.fullmatch(r"\d+(?:\.\d+)?", value):
        return float(value)
    if re.fullmatch(r"(?:\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h))+", value):
        return sum(float(amount) * _GO_UNITS[unit] for amount, unit in _GO_DURATION.findall(value))
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp() - now
