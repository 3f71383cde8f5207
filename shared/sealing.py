"""Sealing personal fields: AES-256-GCM with the data subject's key, inside the stored JSON.

A sealed event is stored as its canonical JSON with its personal fields (``personal`` of its class)
taken out and put, encrypted together, under ``personal_data``::

    {..., "personal_data": {"subject": "<contact id>", "fields": ["name", "email"], "box": "<base64>"}}

``box`` is a 12-byte nonce and the AES-GCM ciphertext of the fields' JSON, bound to the event (its
stream, version and id as associated data). The chain hash covers these stored bytes, so deleting
the key changes nothing that ``verify`` checks. Opened with the key, the event reads as written;
without it (erased), each field reads as its placeholder (「削除済み」, or none for optional ones).
Empty fields are not sealed: nothing personal is in them.

Snapshots of a customer seal each contact's details the same way, with that contact's key.
"""

from __future__ import annotations

import base64
import os
from typing import Any
from uuid import UUID

import orjson
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from shared.events.base import CustomerEvent, canonical_json
from shared.events.personal import CONTACT_PERSONAL, PersonalData
from shared.key_store import ErasedSubjectError, KeyRing

SEALED = "personal_data"
SEALED_MARK = b'"personal_data":'  # in the stored bytes of every sealed event (never in an escaped text value)
NONCE_BYTES = 12


class UnsealedPersonalDataError(RuntimeError):
    """An event with personal data reached the store unsealed (its command context had no key ring)."""


def seal(event: CustomerEvent, ring: KeyRing) -> None:
    """Compute the event's stored bytes with its personal fields encrypted (before its hash is taken)."""
    data = event.model_dump(mode="json")
    if event.schema_version > 1:
        data["class_version"] = event.schema_version
    subject = event.personal_subject()
    if subject is not None:
        _seal_into(data, event.personal, subject, event.originator_id, ring, _aad(data))
    event.remember_stored_state(canonical_json(data), sealed=True)


def needs_sealing(event: CustomerEvent) -> bool:
    return event.personal is not None and not event.sealed and event.personal_subject() is not None


def open_sealed(cls: type, data: dict[str, Any], ring: KeyRing | None) -> tuple[str, ...]:
    """Put an event's sealed fields back into its stored data, in place; the fields read as erased."""
    return _open_into(data, getattr(cls, "personal", None), ring, _aad(data))


def seal_contacts(state: dict[str, Any], customer_id: UUID, ring: KeyRing) -> None:
    """A snapshot's state with each contact's details sealed with that contact's key, in place."""
    for contact_id, contact in (state.get("contacts") or {}).items():
        if contact.get("erased"):
            continue
        try:
            _seal_into(contact, CONTACT_PERSONAL, UUID(contact_id), customer_id, ring, _snapshot_aad(customer_id, contact_id))
        except ErasedSubjectError:
            for path in CONTACT_PERSONAL.fields:
                _put(contact, path, CONTACT_PERSONAL.placeholder(path))
            contact["erased"] = True


def open_contacts(state: dict[str, Any], customer_id: Any, ring: KeyRing | None) -> None:
    for contact_id, contact in (state.get("contacts") or {}).items():
        if _open_into(contact, CONTACT_PERSONAL, ring, _snapshot_aad(customer_id, contact_id)):
            contact["erased"] = True


def _seal_into(data: dict[str, Any], spec: PersonalData, subject: UUID, customer_id: UUID, ring: KeyRing,
               aad: bytes) -> None:
    box = {path: value for path in spec.fields if (value := _pop(data, path)) not in (None, "")}
    if not box:
        return
    key = ring.key_for_sealing(subject, customer_id)
    nonce = os.urandom(NONCE_BYTES)
    sealed = nonce + AESGCM(key).encrypt(nonce, canonical_json(box), aad)
    data[SEALED] = {"subject": str(subject), "fields": sorted(box), "box": base64.b64encode(sealed).decode()}


def _open_into(data: dict[str, Any], spec: PersonalData | None, ring: KeyRing | None, aad: bytes) -> tuple[str, ...]:
    sealed = data.pop(SEALED, None)
    if sealed is None:
        return ()
    key = ring.key(UUID(sealed["subject"])) if ring is not None else None
    if key is None:
        for path in sealed["fields"]:
            _put(data, path, spec.placeholder(path) if spec is not None else None)
        return tuple(sealed["fields"])
    raw = base64.b64decode(sealed["box"])
    for path, value in orjson.loads(AESGCM(key).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], aad)).items():
        _put(data, path, value)
    return ()


def _aad(data: dict[str, Any]) -> bytes:
    return f"{data.get('originator_id')}|{data.get('originator_version')}|{data.get('event_id')}".encode()


def _snapshot_aad(customer_id: Any, contact_id: str) -> bytes:
    return f"snapshot|{customer_id}|{contact_id}".encode()


def _pop(data: dict[str, Any], path: str) -> Any:
    *parents, name = path.split(".")
    for parent in parents:
        data = data.get(parent)
        if not isinstance(data, dict):
            return None
    return data.pop(name, None)


def _put(data: dict[str, Any], path: str, value: Any) -> None:
    *parents, name = path.split(".")
    for parent in parents:
        child = data.get(parent)
        if not isinstance(child, dict):
            return  # the parent was empty: nothing was sealed under it
        data = child
    data[name] = value
