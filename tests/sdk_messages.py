"""What the tests read from a message as the OpenAI SDK returns it: its text, checked to be text, so that
a test fails on an image or a missing block where it expected words (and the type checker knows the
block's type without an ignore)."""

from __future__ import annotations

from openai.types.beta.threads import Message, TextContentBlock


def first_text(message: Message) -> str:
    """The text of the message's first content block, which must be a text block."""
    assert message.content, message
    block = message.content[0]
    assert isinstance(block, TextContentBlock), block
    return block.text.value
