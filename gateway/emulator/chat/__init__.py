"""The emulated MiniMax chat completions (`/v1/chat/completions`, `/v1/text/chatcompletion_v2`;
docs/minimax-chat.md).

completions.py (the two endpoints and the stream), request.py (validation), model.py (the reply) with
code.py (code_interpreter: the code it runs and its answers to the results), search.py (answers to
file_search) and vision.py (what it says of images), chunks.py (the reply as chunks per dialect),
errors.py (both error shapes), faults.py (`[[fault:...]]` markers).
"""
