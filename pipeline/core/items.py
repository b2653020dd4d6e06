"""Items: the conversation as the log tells it, one record per item however many events
speak of it (added, done, content parts, deltas, the response's output, a client's create).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pipeline.core.events import text
from pipeline.core.model import Item

# How complete a source of an item's text is (higher wins; see Item.set_text).
RANK_RESPONSE_DONE, RANK_ITEM, RANK_PART, RANK_DONE = 1, 2, 3, 4


def merge_part(item: Item, part: dict[str, Any], rank: int) -> None:
    """A content part's text and transcript, kept where more complete than what is known."""
    item.set_text("transcript", part.get("transcript"), rank)
    item.set_text("text", part.get("text"), rank)
    if part.get("type") in ("input_audio", "audio", "output_audio"):
        item.audio = True


@dataclass(slots=True)
class Conversation:
    """Items by id, in the order they appeared, and client-created items awaiting their echo."""

    items: dict[str, Item] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)  # provisional ids of client items

    def item(self, item_id: str, ordered: bool = True) -> Item:
        """The record of an item; a new one joins the conversation's order unless it is a
        request's own input (`response.create.input`), which the conversation never holds."""
        item = self.items.get(item_id)
        if item is None:
            item = Item(item_id)
            self.items[item_id] = item
            if ordered:
                self.order.append(item_id)
        return item

    def merge(
        self, raw: Any, rank: int, item_id: str | None = None, ordered: bool = True
    ) -> Item | None:
        """Fold what an event says about a conversation item into the one record of it."""
        if not isinstance(raw, dict):
            return None
        iid = item_id or text(raw.get("id"))
        if iid is None:
            return None
        item = self.item(iid, ordered)
        kind = text(raw.get("type"))
        if kind:
            item.type = kind
        item.role = text(raw.get("role")) or item.role
        item.call_id = text(raw.get("call_id")) or item.call_id
        item.name = text(raw.get("name")) or item.name
        item.arguments = text(raw.get("arguments")) or item.arguments
        if raw.get("output") is not None:
            item.output = raw["output"]
        content = raw.get("content")
        for part in content if isinstance(content, list) else ():
            if isinstance(part, dict):
                merge_part(item, part, rank)
        return item

    def claim_client(self, raw: dict[str, Any]) -> str | None:
        """The provisional id of a client-created item this server echo repeats, if any.

        A client's `conversation.item.create` has no id; the server's
        `conversation.item.added` of the same item has one. Both are one message.
        """
        call_id = text(raw.get("call_id"))
        for pid in self.pending:
            mine = self.items[pid]
            if mine.type != raw.get("type"):
                continue
            same = (
                mine.call_id == call_id
                if mine.type == "function_call_output"
                else mine.role == raw.get("role")
            )
            if same:
                self.pending.remove(pid)
                return pid
        return None

    def rename(self, old: str, new: str) -> None:
        item = self.items.pop(old)
        item.id = new
        self.items[new] = item
        self.order[self.order.index(old)] = new
