"""A bounded, thread-safe cache of customers as last saved by this process.

A batch takes the customers it needs out of the cache and puts them back only after
they were saved (or left unchanged), so a failed save never leaves a half-applied
aggregate behind. A cached customer is always brought up to date with the events
other processes appended since (one query for the whole batch).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable
from uuid import UUID

from shared.domain.customer import Customer


class CustomerCache:
    def __init__(self, max_size: int) -> None:
        self._max_size = max_size
        self._items: OrderedDict[UUID, Customer] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, ids: Iterable[UUID]) -> dict[UUID, Customer]:
        with self._lock:
            return {i: self._items.pop(i) for i in ids if i in self._items}

    def put(self, customers: Iterable[Customer]) -> None:
        with self._lock:
            for customer in customers:
                self._items[customer.id] = customer
                self._items.move_to_end(customer.id)
            while len(self._items) > self._max_size:
                self._items.popitem(last=False)
