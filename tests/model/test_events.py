"""Event adapters (model/events.py): the expressions they give and the getters made of them."""

from __future__ import annotations

import pickle
from types import SimpleNamespace

import pytest

from tradetrace.model.events import (
    DEFAULT_ADAPTER,
    EVENT_FIELDS,
    AttributeAdapter,
    EventAdapter,
    as_adapter,
)


class Keys(EventAdapter):
    name = "keys"

    def read(self, name: str, event: str = "event") -> str:
        return f"{event}[{self.fields[name]!r}]"

    def read_or_none(self, name: str, event: str = "event") -> str:
        return f"{event}.get({self.fields[name]!r})"


class TestAttributeAdapter:
    def test_renamed_fields_are_read_and_the_rest_keep_their_names(self) -> None:
        adapter = AttributeAdapter({"event_type": "kind", "payload": "data"})
        event = SimpleNamespace(kind="FILL", data={"price": 1.5}, event_id="e1")
        assert adapter.getter("event_type")(event) == "FILL"
        assert adapter.getter("payload")(event) == {"price": 1.5}
        assert adapter.getter("event_id")(event) == "e1"
        assert adapter.fields["container_id"] == "container_id"

    def test_strict_getters_raise_and_lenient_ones_give_none(self) -> None:
        event = SimpleNamespace(event_type="BAR")
        with pytest.raises(AttributeError):
            DEFAULT_ADAPTER.getter("payload")(event)
        assert DEFAULT_ADAPTER.getter("payload", strict=False)(event) is None
        names = ("event_type", "event_id", "timestamp")
        assert DEFAULT_ADAPTER.getters(names, strict=False)(event) == ("BAR", None, None)
        with pytest.raises(AttributeError):
            DEFAULT_ADAPTER.getters(names)(event)

    def test_one_field_getters_still_give_a_tuple(self) -> None:
        event = SimpleNamespace(event_type="BAR")
        assert DEFAULT_ADAPTER.getters(("event_type",))(event) == ("BAR",)
        assert DEFAULT_ADAPTER.getters(("event_type",), strict=False)(event) == ("BAR",)

    @pytest.mark.parametrize("bad", ["data-1", "class", "", "a b"])
    def test_a_field_that_is_no_attribute_name_is_refused(self, bad: str) -> None:
        with pytest.raises(ValueError, match="not an attribute name"):
            AttributeAdapter({"payload": bad})

    def test_unknown_fields_are_refused_naming_the_known_ones(self) -> None:
        with pytest.raises(ValueError, match="'kind' is not one of: event_type, payload"):
            AttributeAdapter({"kind": "type"})

    def test_metadata_is_made_when_asked_and_never_replaced(self) -> None:
        event = SimpleNamespace(metadata=None)
        carrier = DEFAULT_ADAPTER.metadata(event, create=True)
        assert carrier == {} and event.metadata is carrier
        assert DEFAULT_ADAPTER.metadata(SimpleNamespace(metadata="text"), create=True) is None
        assert DEFAULT_ADAPTER.metadata(SimpleNamespace()) is None


class TestAdapterContract:
    def test_a_subclass_needs_only_its_expressions(self) -> None:
        adapter = Keys({"event_type": "type"})
        event = {"type": "ORDER", "event_id": "o1"}
        assert adapter.getter("event_type")(event) == "ORDER"
        assert adapter.getters(("event_id", "timestamp"), strict=False)(event) == ("o1", None)
        with pytest.raises(KeyError):
            adapter.getter("timestamp")(event)
        assert adapter.metadata({"metadata": {"a": 1}}) == {"a": 1}

    def test_adapters_compare_and_pickle_by_class_and_fields(self) -> None:
        assert AttributeAdapter({"payload": "data"}) == AttributeAdapter({"payload": "data"})
        assert AttributeAdapter() != AttributeAdapter({"payload": "data"})
        assert AttributeAdapter() != Keys()
        adapter = AttributeAdapter({"payload": "data"})
        back = pickle.loads(pickle.dumps(adapter))
        assert back == adapter and back.getter("payload")(SimpleNamespace(data=1)) == 1

    def test_a_mapping_is_read_as_attributes(self) -> None:
        assert as_adapter({"payload": "data"}) == AttributeAdapter({"payload": "data"})
        keys = Keys()
        assert as_adapter(keys) is keys
        assert set(DEFAULT_ADAPTER.fields) == set(EVENT_FIELDS)
