"""The built-in MiniMax emulator: MiniMax's Assistants API and its chat completions, over real HTTP.

The gateway's default upstream when run with `--emulator`, and the upstream of its tests:

    from gateway.emulator import EmulatorConfig, create_emulator_app, text_reply
"""

from gateway.emulator.app import create_emulator_app
from gateway.emulator.config import EmulatorConfig
from gateway.emulator.replies import text_reply, tool_result_reply

__all__ = ["EmulatorConfig", "create_emulator_app", "text_reply", "tool_result_reply"]
