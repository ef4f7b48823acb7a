"""Named registries: the one way spikerec looks things up by name.

Integrators, surrogates, encoders, heads, decoders, datasets, losses, optimizers,
learning-rate schedules and comparison entries are each a :class:`Registry`: a
read-only mapping from name to item (a class, a function or an object), in the
order the items were registered. Iterating over a registry yields its names, so
``list(INTEGRATORS)``, ``name in HEADS`` and ``argparse``'s ``choices=DECODERS``
work; :meth:`Registry.get` turns an unknown name into one line that lists the
valid ones. Adding an item is one line: ``REGISTRY.add(name, item)`` or the
:meth:`Registry.register` decorator.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Generic, TypeVar, cast, overload

from spikerec.errors import ParameterError

T = TypeVar("T")
D = TypeVar("D")
B = TypeVar("B")
_MISSING: Any = object()


class Registry(Mapping[str, T], Generic[T]):
    """A read-only mapping ``name -> item`` that names its kind in its errors.

    Parameters
    ----------
    kind : str
        What one item is, for messages: ``"integrator"``, ``"head"``, ``"entry"``.
    items : iterable of (str, item), optional
        Initial items, registered in this order.

    Notes
    -----
    A registry iterates over its names in registration order and compares equal to
    another mapping with the same items, and to the tuple of its names (the form
    the older name tuples had). Names are non-empty strings, registered once.

    Examples
    --------
    >>> colours = Registry("colour", [("red", 0xFF0000)])
    >>> @colours.register("green")
    ... def green():
    ...     return 0x00FF00
    >>> list(colours), "red" in colours, colours.get("green")()
    (['red', 'green'], True, 65280)
    >>> colours.get("blue")
    Traceback (most recent call last):
    ...
    spikerec.errors.ParameterError: unknown colour 'blue'; valid: red, green
    """

    def __init__(self, kind: str, items: Iterable[tuple[str, T]] = ()) -> None:
        if not isinstance(kind, str) or not kind:
            raise ParameterError(f"kind={kind!r} must be a non-empty string")
        self._kind = kind
        self._items: dict[str, T] = {}
        for name, item in items:
            self.add(name, item)

    @property
    def kind(self) -> str:
        """What one item is (a noun used in messages)."""
        return self._kind

    def add(self, name: str, item: T) -> T:
        """Register ``item`` under ``name`` and return it.

        Raises
        ------
        ValueError
            If ``name`` is not a non-empty string or is already registered.
        """
        if not isinstance(name, str) or not name:
            raise ParameterError(f"{self._kind} name {name!r} must be a non-empty string")
        if name in self._items:
            raise ParameterError(f"{self._kind} {name!r} is already registered")
        self._items[name] = item
        return item

    def register(self, name: str) -> Callable[[D], D]:
        """Decorator: register the decorated class or function under ``name``."""

        def decorate(item: D) -> D:
            self.add(name, item)  # type: ignore[arg-type]
            return item

        return decorate

    @overload
    def get(self, name: object) -> T: ...

    @overload
    def get(self, name: object, default: D) -> T | D: ...

    def get(self, name: object, default: Any = _MISSING) -> Any:
        """The item named ``name``.

        Without ``default`` an unknown name raises; with one, it returns ``default``
        (as ``dict.get`` does).

        Raises
        ------
        ValueError
            ``"unknown <kind> <name>; valid: <names>"`` for an unknown name.
        """
        try:
            return self._items[name]  # type: ignore[index]
        except (KeyError, TypeError):
            if default is not _MISSING:
                return default
            raise ParameterError(self.unknown_message(name)) from None

    def build(self: Registry[type[B]], item: object, base: type[Any], **kwargs: Any) -> B:
        """An object of a registry of classes: ``item`` itself if it is already a ``base``
        (a configured instance passes through), else the class named ``item`` called
        with ``kwargs``.

        Raises
        ------
        ValueError
            ``"unknown <kind> <name>; valid: <names>"`` for an unknown name.

        Examples
        --------
        >>> from spikerec.lif.surrogates import SURROGATES, ATan, Surrogate
        >>> SURROGATES.build("atan", Surrogate, alpha=3.0), SURROGATES.build(ATan(), Surrogate)
        (ATan(alpha=3.0), ATan(alpha=2.0))
        """
        if isinstance(item, base):
            return cast(B, item)
        return self.get(item)(**kwargs)

    def unknown_message(self, name: object) -> str:
        """The message of an unknown ``name``: it lists the valid names."""
        return f"unknown {self._kind} {name!r}; valid: {', '.join(self._items)}"

    def names(self) -> tuple[str, ...]:
        """The registered names, in registration order."""
        return tuple(self._items)

    def __getitem__(self, name: str) -> T:
        return self._items[name]

    def __contains__(self, name: object) -> bool:
        try:
            return name in self._items
        except TypeError:  # an unhashable value is no name
            return False

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, tuple):
            return self.names() == other
        if isinstance(other, Mapping):
            return dict(self.items()) == dict(other.items())
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Registry({self._kind!r}: {', '.join(self._items)})"
