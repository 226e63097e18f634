"""MiniMax Assistants API emulator (legacy wire format): the gateway's default and test upstream.

from gateway.emulator import EmulatorConfig, create_emulator_app, text_reply
"""

from gateway.emulator.app import create_emulator_app
from gateway.emulator.config import EmulatorConfig
from gateway.emulator.model import text_reply, tool_result_reply

__all__ = ["EmulatorConfig", "create_emulator_app", "text_reply", "tool_result_reply"]
