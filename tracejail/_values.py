"""Value classes without @dataclass: what @dataclass(frozen=True) (or plain
@dataclass) generates -- ==, hash, repr, FrozenInstanceError -- written out once.

Decorating a dataclass exec()s each generated method: ~1.5 ms a class here, paid
by every ``tracejail run`` for each class imported on its path.  A subclass lists
its fields in ``_fields`` (``_compare``: those ==/hash use, default all), writes its
``__init__`` (frozen ones: ``self.__dict__.update(...)``) and is decorated with
``@_node``.  Instances keep a ``__dict__``, so pickle and copy treat them as they
treated the dataclasses (the policy cache pickles policy ASTs).  The audit
encoder turns them into objects of their ``_fields``, as it does dataclasses.
"""
from __future__ import annotations

from operator import attrgetter


class _Node:
    """Fields are ``_fields`` in order; ``_key(self)`` is their tuple (set by _node)."""
    __slots__ = ()
    _fields: tuple = ()

    def __repr__(self) -> str:
        return (self.__class__.__qualname__ + "(" +
                ", ".join(f"{f}={getattr(self, f)!r}" for f in self._fields) + ")")

    def __eq__(self, other):
        if other.__class__ is self.__class__:
            return self._key(self) == other._key(other)
        return NotImplemented

    __hash__ = None         # mutable statements: unhashable, as an eq=True dataclass


class _Frozen(_Node):
    __slots__ = ()

    def __setattr__(self, name, value):
        from dataclasses import FrozenInstanceError
        raise FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self, name):
        from dataclasses import FrozenInstanceError
        raise FrozenInstanceError(f"cannot delete field {name!r}")

    def __hash__(self) -> int:
        return hash(self._key(self))


def _node(cls):
    """Class decorator: ``_key`` (the tuple of the compared fields, ``_compare``,
    default all: in C) and ``__match_args__``."""
    f = cls.__dict__.get("_compare", cls._fields)
    cls._key = staticmethod(attrgetter(*f) if len(f) > 1 else lambda o, _n=f[0]: (getattr(o, _n),))
    cls.__match_args__ = cls._fields
    return cls
