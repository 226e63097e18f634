"""PostgreSQL: create-thread-and-run's store work in one round trip (a function; SQLite has none).

`gateway_start_thread_run` is `Runs.create_started_in_new_thread`: the assistant checked (and held
`FOR SHARE`, so it cannot go before the run is stored), then the new thread inserted and
`gateway_start_run` (0004) called on it with the thread's messages and the additional ones. One call
in autocommit where the thread's insert and the run's start took two. An unknown assistant returns
`{"error": "assistant"}` before anything is written; the start's own errors (an unknown thread, an
active run) cannot happen on a thread made in the same call, and would roll it back if they did.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

START_THREAD_RUN = """
CREATE FUNCTION gateway_start_thread_run(p_thread json, p_run json, p_messages json, p_start boolean)
RETURNS json
LANGUAGE plpgsql AS $fn$
DECLARE
    v_started json;
BEGIN
    PERFORM 1 FROM assistants
     WHERE assistants.id = p_run->>'assistant_id' AND assistants.tenant = p_run->>'tenant'
       FOR SHARE;
    IF NOT FOUND THEN
        RETURN json_build_object('error', 'assistant');
    END IF;
    INSERT INTO threads (id, tenant, created_at, metadata, tool_resources)
    VALUES (p_thread->>'id', p_thread->>'tenant', (p_thread->>'created_at')::bigint, p_thread->'metadata',
            p_thread->'tool_resources');
    v_started := gateway_start_run(p_run, p_messages, p_start);
    IF v_started->>'error' IS NOT NULL THEN
        RAISE EXCEPTION 'gateway_start_thread_run: %', v_started::text;
    END IF;
    RETURN v_started;
END
$fn$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(START_THREAD_RUN)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP FUNCTION gateway_start_thread_run(json, json, json, boolean)")
