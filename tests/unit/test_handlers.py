"""The per-event-type routing table of the read models."""

from __future__ import annotations

import pytest

from services.projections.handlers import Handlers


class Opened:
    pass


class Moved:
    pass


class Unknown:
    pass


def test_each_event_type_goes_to_its_own_function_with_the_context() -> None:
    handlers = Handlers()
    seen: list[tuple[str, object]] = []

    @handlers.on(Opened)
    def _opened(event: Opened, log: list) -> str:
        log.append(("opened", event))
        return "o"

    @handlers.on(Moved)
    def _moved(event: Moved, log: list) -> str:
        log.append(("moved", event))
        return "m"

    opened, moved = Opened(), Moved()
    assert (handlers(opened, seen), handlers(moved, seen)) == ("o", "m")
    assert seen == [("opened", opened), ("moved", moved)]


def test_an_event_type_without_a_handler_falls_through() -> None:
    handlers = Handlers()
    handlers.on(Opened)(lambda event: "o")
    assert handlers(Unknown()) is None


def test_a_default_takes_what_no_handler_names() -> None:
    handlers = Handlers(default=lambda event: f"default {type(event).__name__}")
    handlers.on(Opened)(lambda event: "o")
    assert (handlers(Opened()), handlers(Unknown())) == ("o", "default Unknown")


def test_one_function_may_handle_several_types_but_a_type_has_one_handler() -> None:
    handlers = Handlers()
    handlers.on(Opened, Moved)(lambda event: type(event).__name__)
    assert (handlers(Opened()), handlers(Moved())) == ("Opened", "Moved")
    with pytest.raises(ValueError, match="Opened has a handler already"):
        handlers.on(Opened)(lambda event: None)


def test_the_table_is_a_mapping_of_the_types_it_handles() -> None:
    handlers = Handlers()
    first = handlers.on(Opened)(lambda event: None)
    assert set(handlers) == {Opened} and len(handlers) == 1 and handlers[Opened] is first
    assert Moved not in handlers
