"""Conventions: where a span's messages go, one object per vendor convention.

Message payloads are billed by size, so each span carries them once per chosen
convention: Braintrust reads `braintrust.input_json` / `output_json` (chat
messages as JSON strings), other OTLP backends the OpenTelemetry GenAI
`gen_ai.input.messages` / `output.messages` (`{role, parts}` messages). The
mappers in `attributes` ask each chosen convention to write its part and never
test a convention's name; another convention (OpenInference for Phoenix/Arize)
is one more class here and one more entry in `CONVENTIONS`.

What every span carries whatever the choice (`braintrust.span_attributes`,
`metadata`, `metrics`, and the scalar `gen_ai.*` attributes) is written by the
mappers themselves.
"""

from __future__ import annotations

from typing import Any, Protocol

from pipeline.core.messages import MessageBook, maybe_json
from pipeline.encode import dumps
from pipeline.records import AttrValue

Attrs = dict[str, AttrValue]
Messages = list[dict[str, Any]]


class Convention(Protocol):
    """How one convention writes a span's messages into its attributes."""

    name: str
    # where its input and output messages go: the report finds `--audio dir:` clips there
    input_key: str
    output_key: str

    def messages(
        self,
        attrs: Attrs,
        book: MessageBook,
        inputs: Messages | None,
        outputs: Messages | None,
        reason: str | None,
    ) -> None:
        """A span's input and output messages (None: left out)."""

    def user_said(self, attrs: Attrs, book: MessageBook, said: Messages) -> None:
        """What the user said (one message), as a user-input span's input."""

    def prompt(
        self,
        attrs: Attrs,
        book: MessageBook,
        prompt: Messages | None,
        output: Messages,
        shaped: dict[str, Any],
        instructions: str | None,
        reason: str | None,
    ) -> None:
        """A model response: the prompt it saw (system instructions first, when there are
        some; None: unknown) and what it produced, as chat messages and in the Realtime
        output shape (`shaped`: `{status, content, tool_calls}`)."""

    def tool_arguments(self, attrs: Attrs, arguments: str) -> None: ...

    def tool_result(self, attrs: Attrs, output: Any) -> None: ...


class Braintrust:
    """`braintrust.input_json` / `output_json`: chat messages, as Braintrust shows them."""

    name = "braintrust"
    input_key = "braintrust.input_json"
    output_key = "braintrust.output_json"

    def messages(
        self,
        attrs: Attrs,
        book: MessageBook,
        inputs: Messages | None,
        outputs: Messages | None,
        reason: str | None,
    ) -> None:
        if inputs is not None:
            attrs[self.input_key] = book.json(inputs)
        if outputs is not None:
            attrs[self.output_key] = book.json(outputs)

    def user_said(self, attrs: Attrs, book: MessageBook, said: Messages) -> None:
        attrs[self.input_key] = dumps(said[0]["content"])

    def prompt(
        self,
        attrs: Attrs,
        book: MessageBook,
        prompt: Messages | None,
        output: Messages,
        shaped: dict[str, Any],
        instructions: str | None,
        reason: str | None,
    ) -> None:
        if prompt is not None:
            attrs[self.input_key] = book.json(prompt)
        attrs[self.output_key] = dumps(shaped)

    def tool_arguments(self, attrs: Attrs, arguments: str) -> None:
        attrs[self.input_key] = dumps(maybe_json(arguments))

    def tool_result(self, attrs: Attrs, output: Any) -> None:
        attrs[self.output_key] = dumps(maybe_json(output))


class GenAI:
    """OpenTelemetry GenAI: `gen_ai.input.messages` / `output.messages` (`{role, parts}`),
    system instructions apart, tool arguments and results as their own attributes."""

    name = "genai"
    input_key = "gen_ai.input.messages"
    output_key = "gen_ai.output.messages"

    def messages(
        self,
        attrs: Attrs,
        book: MessageBook,
        inputs: Messages | None,
        outputs: Messages | None,
        reason: str | None,
    ) -> None:
        if inputs is not None:
            attrs[self.input_key] = book.genai_json(inputs)
        if outputs is not None:
            attrs[self.output_key] = book.genai_json(outputs, reason)

    def user_said(self, attrs: Attrs, book: MessageBook, said: Messages) -> None:
        attrs[self.input_key] = book.genai_json(said)

    def prompt(
        self,
        attrs: Attrs,
        book: MessageBook,
        prompt: Messages | None,
        output: Messages,
        shaped: dict[str, Any],
        instructions: str | None,
        reason: str | None,
    ) -> None:
        if instructions:  # GenAI keeps system instructions apart from the messages
            attrs["gen_ai.system_instructions"] = dumps([{"type": "text", "content": instructions}])
            prompt = prompt[1:] if prompt is not None else None
        if prompt is not None:
            attrs[self.input_key] = book.genai_json(prompt)
        attrs[self.output_key] = book.genai_json(output, reason)

    def tool_arguments(self, attrs: Attrs, arguments: str) -> None:
        attrs["gen_ai.tool.call.arguments"] = arguments

    def tool_result(self, attrs: Attrs, output: Any) -> None:
        attrs["gen_ai.tool.call.result"] = output if isinstance(output, str) else dumps(output)


# In the order their attributes are written when several are chosen.
CONVENTIONS: dict[str, Convention] = {"braintrust": Braintrust(), "genai": GenAI()}
ALIASES = {"both": ("braintrust", "genai")}


def parse_conventions(text: str) -> tuple[str, ...]:
    """`--attributes`: a comma-separated set of convention names (`both`: every one), in
    `CONVENTIONS` order; raises ValueError naming the unknown ones."""
    names: set[str] = set()
    for part in (p.strip() for p in text.split(",")):
        if part:
            names.update(ALIASES.get(part, (part,)))
    unknown = sorted(names - set(CONVENTIONS))
    if unknown or not names:
        raise ValueError(
            f"--attributes {text!r}: use a comma-separated set of {', '.join(CONVENTIONS)} "
            f"(or {', '.join(ALIASES)})"
        )
    return tuple(n for n in CONVENTIONS if n in names)
