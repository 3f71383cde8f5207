"""Handlers registered per event type: the routing table of a read model.

A read model maps each event class it cares about to one small function::

    HANDLERS = Handlers()

    @HANDLERS.on(ev.DealOpened, ev.DealImported)
    def _opened(event, batch): ...

    HANDLERS(event, batch)  # the function of the event's class; an event of another class falls through

Lookup is by the event's own class (event classes are leaves: none derives from another),
so an event type no handler names is skipped, as an ``isinstance`` chain without a match
would skip it; a ``default`` handles those instead where one is given.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

Handler = Callable[..., Any]


class Handlers(Mapping[type, Handler]):
    """Event class -> its handler ``(event, *context)``; a mapping, so ``set(handlers)`` lists the types."""

    def __init__(self, default: Handler | None = None) -> None:
        self._by_type: dict[type, Handler] = {}
        self._default = default

    def on(self, *event_types: type) -> Callable[[Handler], Handler]:
        """Register the decorated function for these event classes (each class once)."""
        def register(handler: Handler) -> Handler:
            for event_type in event_types:
                if event_type in self._by_type:
                    raise ValueError(f"{event_type.__name__} has a handler already: "
                                     f"{self._by_type[event_type].__name__}")
                self._by_type[event_type] = handler
            return handler
        return register

    def __call__(self, event: Any, *context: Any) -> Any:
        handler = self._by_type.get(type(event), self._default)
        return None if handler is None else handler(event, *context)

    def __getitem__(self, event_type: type) -> Handler:
        return self._by_type[event_type]

    def __iter__(self) -> Iterator[type]:
        return iter(self._by_type)

    def __len__(self) -> int:
        return len(self._by_type)
