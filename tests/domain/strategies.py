"""Hypothesis strategies for stored events: any value msgspec can store for a field's type.

One table for both kinds of stream, so a type added to either is drawn the same way.
"""

import enum
import types
import typing
from datetime import datetime, timedelta, timezone
from typing import Any, Literal
from uuid import UUID

import msgspec
from hypothesis import strategies as st
from msgspec import UNSET, UnsetType

offsets = st.integers(-23 * 60 - 59, 23 * 60 + 59).map(lambda minutes: timezone(timedelta(minutes=minutes)))
aware_datetimes = st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(9998, 12, 30), timezones=offsets)
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)


def strategy_for(annotation: Any) -> st.SearchStrategy:
    """Values msgspec can store for a field's type; an unknown type fails loudly."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if annotation is datetime:
        return aware_datetimes
    if annotation is bool:
        return st.booleans()
    if annotation is int:
        return st.integers(-(2**63), 2**63 - 1)
    if annotation is float:
        return st.floats(allow_nan=False, allow_infinity=False)
    if annotation is str:
        return st.text()
    if annotation is type(None):
        return st.none()
    if annotation is UUID:
        return st.uuids()
    if annotation is UnsetType:
        return st.just(UNSET)
    if annotation is Any:
        return json_values
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return st.sampled_from(annotation)
    if origin is Literal:
        return st.sampled_from(args)
    if origin in (typing.Union, types.UnionType):
        return st.one_of(*map(strategy_for, args))
    if origin is dict and args[0] is str:
        return st.dictionaries(st.text(), strategy_for(args[1]), max_size=4)
    raise NotImplementedError(f"add a strategy for {annotation!r}")


def events_of(cls: type[msgspec.Struct]) -> st.SearchStrategy:
    """Any event of type `cls`."""
    return st.builds(cls, **{field.name: strategy_for(field.type) for field in msgspec.structs.fields(cls)})
