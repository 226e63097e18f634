"""PostgreSQL: the run functions parse a reply, and a new run and its messages, once, not once per field.

On a `json` value every `->` or `->>` parses the value's text again, and 0004's functions read their
arguments field by field: `gateway_batch` parsed each op about seven times, and an op of a checkpoint
carries the reply so far, so at 500 open streams that was nearly all of the database server's CPU;
`gateway_start_run` parsed the run's row once per column (30) and each message's once per column (15).

- `gateway_batch(json, json, text[])`, a new overload: the ops are read once (`json_to_recordset`), and
  a message's `content` and `replay` (the long values: the reply's text) come in `p_json`, an array of
  JSON texts the op points into by position (from 1). Each is parsed once, by its `::json` cast, and
  stored as that text, as 0004 stored it. 0004's `gateway_batch(json, json)` stays, so replicas of the
  previous release keep writing while a rolling upgrade replaces them. Ops are 0004's, but for messages:
  - `{"op": "message", "row": {...}, "content": i, "replay": j}`: the row without content and replay;
  - `{"op": "checkpoint", "id": ..., "content": i}`;
  - `{"op": "complete", "id": ..., "set": {...}, "content": i, "replay": j}`: `set` without them.
- `gateway_start_run` (same arguments, so 0005's `gateway_start_thread_run` and the previous release
  call it as before): the run and its messages are read into records once (`json_to_record`,
  `json_to_recordset`). Those give SQL NULL for a JSON null, where `->` gave JSON `null`; the json
  columns take `coalesce(..., 'null')` so that rows stay as 0004 stored them. Every key is present in
  what the store sends, so "absent" and "null" need no telling apart.

A step's row, and the `set` of a step's or a run's update, are still read field by field: they are
short, and written a few times per run, not at every tick.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import importlib

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

ACTIVE = "('queued', 'in_progress', 'requires_action', 'cancelling')"

START_RUN = f"""
CREATE OR REPLACE FUNCTION gateway_start_run(p_run json, p_messages json, p_start boolean) RETURNS json
LANGUAGE plpgsql AS $fn$
DECLARE
    v_run record;
    a record;
    v_msg record;
    v_active text;
    v_history json;
BEGIN
    SELECT * INTO v_run FROM json_to_record(p_run) AS r(
        id text, tenant text, thread_id text, assistant_id text, created_at bigint, status text,
        started_at bigint, expires_at bigint, cancelled_at bigint, failed_at bigint, completed_at bigint,
        required_action json, last_error json, incomplete_details json, usage json, model text,
        instructions text, tools json, metadata json, temperature float8, top_p float8,
        max_prompt_tokens integer, max_completion_tokens integer, truncation_strategy json,
        response_format json, tool_choice json, parallel_tool_calls boolean, lease_owner text,
        lease_until float8);
    SELECT assistants.id, assistants.model, assistants.instructions, assistants.tools,
           assistants.temperature, assistants.top_p, assistants.response_format
      INTO a
      FROM threads LEFT OUTER JOIN assistants
        ON assistants.id = v_run.assistant_id AND assistants.tenant = v_run.tenant
     WHERE threads.id = v_run.thread_id AND threads.tenant = v_run.tenant
       FOR UPDATE OF threads;
    IF NOT FOUND THEN
        RETURN json_build_object('error', 'thread');
    END IF;
    SELECT runs.id INTO v_active FROM runs
     WHERE runs.thread_id = v_run.thread_id AND runs.status IN {ACTIVE} LIMIT 1;
    IF v_active IS NOT NULL THEN
        RETURN json_build_object('error', 'busy', 'active', v_active);
    END IF;
    IF a.id IS NULL THEN
        RETURN json_build_object('error', 'assistant');
    END IF;
    FOR v_msg IN SELECT * FROM json_to_recordset(p_messages) AS r(
        id text, tenant text, thread_id text, created_at bigint, role text, status text, content json,
        assistant_id text, run_id text, attachments json, completed_at bigint, incomplete_at bigint,
        incomplete_details json, metadata json, replay json) LOOP
        INSERT INTO messages (id, tenant, thread_id, created_at, role, status, content, assistant_id,
                              run_id, attachments, completed_at, incomplete_at, incomplete_details,
                              metadata, replay)
        VALUES (v_msg.id, v_msg.tenant, v_msg.thread_id, v_msg.created_at, v_msg.role, v_msg.status,
                coalesce(v_msg.content, 'null'), v_msg.assistant_id, v_msg.run_id,
                coalesce(v_msg.attachments, 'null'), v_msg.completed_at, v_msg.incomplete_at,
                coalesce(v_msg.incomplete_details, 'null'), coalesce(v_msg.metadata, 'null'),
                coalesce(v_msg.replay, 'null'));
    END LOOP;
    INSERT INTO runs (id, tenant, thread_id, assistant_id, created_at, status, started_at, expires_at,
                      cancelled_at, failed_at, completed_at, required_action, last_error,
                      incomplete_details, usage, model, instructions, tools, metadata, temperature,
                      top_p, max_prompt_tokens, max_completion_tokens, truncation_strategy,
                      response_format, tool_choice, parallel_tool_calls, lease_owner, lease_until)
    VALUES (v_run.id, v_run.tenant, v_run.thread_id, v_run.assistant_id, v_run.created_at,
            CASE WHEN p_start THEN 'in_progress' ELSE v_run.status END,
            CASE WHEN p_start THEN v_run.created_at ELSE v_run.started_at END,
            v_run.expires_at, v_run.cancelled_at, v_run.failed_at, v_run.completed_at,
            coalesce(v_run.required_action, 'null'), coalesce(v_run.last_error, 'null'),
            coalesce(v_run.incomplete_details, 'null'), coalesce(v_run.usage, 'null'),
            coalesce(v_run.model, a.model), coalesce(v_run.instructions, a.instructions, ''),
            coalesce(v_run.tools, a.tools), coalesce(v_run.metadata, 'null'),
            coalesce(v_run.temperature, a.temperature), coalesce(v_run.top_p, a.top_p),
            v_run.max_prompt_tokens, v_run.max_completion_tokens,
            coalesce(v_run.truncation_strategy, 'null'),
            coalesce(v_run.response_format, a.response_format), coalesce(v_run.tool_choice, 'null'),
            v_run.parallel_tool_calls, v_run.lease_owner, v_run.lease_until);
    IF p_start THEN
        SELECT json_build_object(
            'messages', (SELECT coalesce(json_agg(json_build_object(
                    'seq', m.seq, 'id', m.id, 'role', m.role, 'status', m.status, 'content', m.content,
                    'attachments', m.attachments, 'run_id', m.run_id, 'replay', m.replay) ORDER BY m.seq),
                    '[]') FROM messages m WHERE m.thread_id = v_run.thread_id AND m.tenant = v_run.tenant),
            'steps', (SELECT coalesce(json_agg(json_build_object(
                    'id', s.id, 'run_id', s.run_id, 'anchor_seq', s.anchor_seq, 'replay', s.replay)
                    ORDER BY s.anchor_seq, s.seq), '[]')
                    FROM run_steps s
                    WHERE s.thread_id = v_run.thread_id AND s.tenant = v_run.tenant
                      AND s.type = 'tool_calls'),
            'results', (SELECT coalesce(json_agg(json_build_object(
                    'step_id', r.step_id, 'run_id', r.run_id, 'tool_call_id', r.tool_call_id,
                    'output', r.output) ORDER BY r.seq), '[]')
                    FROM tool_results r WHERE r.thread_id = v_run.thread_id AND r.tenant = v_run.tenant))
          INTO v_history;
    END IF;
    RETURN json_build_object(
        'assistant', json_build_object('model', a.model, 'instructions', a.instructions, 'tools', a.tools,
                                       'temperature', a.temperature, 'top_p', a.top_p,
                                       'response_format', a.response_format),
        'history', v_history);
END
$fn$
"""

BATCH = """
CREATE FUNCTION gateway_batch(p_move json, p_ops json, p_json text[]) RETURNS boolean
LANGUAGE plpgsql AS $fn$
DECLARE
    s json;
    r json;
    v record;
BEGIN
    IF p_move IS NOT NULL THEN
        s := p_move->'set';
        UPDATE runs SET
            status = s->>'status',
            started_at = CASE WHEN (p_move->>'started')::boolean
                                  THEN coalesce(runs.started_at, (p_move->>'now')::bigint)
                              WHEN s->'started_at' IS NOT NULL THEN (s->>'started_at')::bigint
                              ELSE runs.started_at END,
            expires_at = CASE WHEN s->'expires_at' IS NOT NULL THEN (s->>'expires_at')::bigint
                              ELSE runs.expires_at END,
            cancelled_at = CASE WHEN s->'cancelled_at' IS NOT NULL THEN (s->>'cancelled_at')::bigint
                                ELSE runs.cancelled_at END,
            failed_at = CASE WHEN s->'failed_at' IS NOT NULL THEN (s->>'failed_at')::bigint
                             ELSE runs.failed_at END,
            completed_at = CASE WHEN s->'completed_at' IS NOT NULL THEN (s->>'completed_at')::bigint
                                ELSE runs.completed_at END,
            required_action = CASE WHEN s->'required_action' IS NOT NULL THEN s->'required_action'
                                   ELSE runs.required_action END,
            last_error = CASE WHEN s->'last_error' IS NOT NULL THEN s->'last_error'
                              ELSE runs.last_error END,
            usage = CASE WHEN s->'usage' IS NOT NULL THEN s->'usage' ELSE runs.usage END,
            incomplete_details = CASE WHEN s->'incomplete_details' IS NOT NULL THEN s->'incomplete_details'
                                      ELSE runs.incomplete_details END,
            lease_owner = CASE WHEN s->'lease_owner' IS NOT NULL THEN s->>'lease_owner'
                               ELSE runs.lease_owner END,
            lease_until = CASE WHEN s->'lease_until' IS NOT NULL THEN (s->>'lease_until')::float8
                               ELSE runs.lease_until END
        WHERE runs.id = p_move->>'id'
          AND runs.status IN (SELECT json_array_elements_text(p_move->'from'));
        IF NOT FOUND THEN
            RETURN false;
        END IF;
    END IF;
    FOR v IN SELECT * FROM json_to_recordset(p_ops)
                        AS x(op text, id text, "row" json, "set" json, content integer, replay integer) LOOP
        r := v.row;
        s := v.set;
        CASE v.op
        WHEN 'message' THEN
            INSERT INTO messages (id, tenant, thread_id, created_at, role, status, content, assistant_id,
                                  run_id, attachments, completed_at, incomplete_at, incomplete_details,
                                  metadata, replay)
            VALUES (r->>'id', r->>'tenant', r->>'thread_id', (r->>'created_at')::bigint, r->>'role',
                    r->>'status', p_json[v.content]::json, r->>'assistant_id', r->>'run_id',
                    r->'attachments', (r->>'completed_at')::bigint, (r->>'incomplete_at')::bigint,
                    r->'incomplete_details', r->'metadata', p_json[v.replay]::json);
        WHEN 'step' THEN
            INSERT INTO run_steps (id, tenant, run_id, thread_id, assistant_id, created_at, type, status,
                                   cancelled_at, completed_at, expired_at, failed_at, last_error,
                                   step_details, usage, metadata, anchor_seq, replay)
            VALUES (r->>'id', r->>'tenant', r->>'run_id', r->>'thread_id', r->>'assistant_id',
                    (r->>'created_at')::bigint, r->>'type', r->>'status', (r->>'cancelled_at')::bigint,
                    (r->>'completed_at')::bigint, (r->>'expired_at')::bigint, (r->>'failed_at')::bigint,
                    r->'last_error', r->'step_details', r->'usage', r->'metadata',
                    coalesce((SELECT messages.seq FROM messages WHERE messages.thread_id = r->>'thread_id'
                              ORDER BY messages.seq DESC LIMIT 1), 0),
                    r->'replay');
        WHEN 'result' THEN
            INSERT INTO tool_results (tenant, step_id, run_id, thread_id, tool_call_id, output, created_at)
            VALUES (r->>'tenant', r->>'step_id', r->>'run_id', r->>'thread_id', r->>'tool_call_id',
                    r->>'output', (r->>'created_at')::bigint);
        WHEN 'checkpoint' THEN
            UPDATE messages SET content = p_json[v.content]::json
             WHERE messages.id = v.id AND messages.status = 'in_progress';
        WHEN 'complete' THEN
            UPDATE messages SET
                status = s->>'status',
                content = p_json[v.content]::json,
                incomplete_details = s->'incomplete_details',
                replay = p_json[v.replay]::json,
                completed_at = CASE WHEN s->'completed_at' IS NOT NULL THEN (s->>'completed_at')::bigint
                                    ELSE messages.completed_at END,
                incomplete_at = CASE WHEN s->'incomplete_at' IS NOT NULL
                                     THEN (s->>'incomplete_at')::bigint ELSE messages.incomplete_at END
             WHERE messages.id = v.id AND messages.status = 'in_progress';
        WHEN 'step_set' THEN
            UPDATE run_steps SET
                status = CASE WHEN s->'status' IS NOT NULL THEN s->>'status' ELSE run_steps.status END,
                usage = CASE WHEN s->'usage' IS NOT NULL THEN s->'usage' ELSE run_steps.usage END,
                last_error = CASE WHEN s->'last_error' IS NOT NULL THEN s->'last_error'
                                  ELSE run_steps.last_error END,
                step_details = CASE WHEN s->'step_details' IS NOT NULL THEN s->'step_details'
                                    ELSE run_steps.step_details END,
                replay = CASE WHEN s->'replay' IS NOT NULL THEN s->'replay' ELSE run_steps.replay END,
                cancelled_at = CASE WHEN s->'cancelled_at' IS NOT NULL THEN (s->>'cancelled_at')::bigint
                                    ELSE run_steps.cancelled_at END,
                completed_at = CASE WHEN s->'completed_at' IS NOT NULL THEN (s->>'completed_at')::bigint
                                    ELSE run_steps.completed_at END,
                expired_at = CASE WHEN s->'expired_at' IS NOT NULL THEN (s->>'expired_at')::bigint
                                  ELSE run_steps.expired_at END,
                failed_at = CASE WHEN s->'failed_at' IS NOT NULL THEN (s->>'failed_at')::bigint
                                 ELSE run_steps.failed_at END
             WHERE run_steps.id = v.id AND run_steps.status = 'in_progress';
        END CASE;
    END LOOP;
    RETURN true;
END
$fn$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(START_RUN)
    op.execute(BATCH)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP FUNCTION gateway_batch(json, json, text[])")
    op.execute("DROP FUNCTION gateway_start_run(json, json, boolean)")
    op.execute(
        importlib.import_module("gateway.engine.store.migrations.versions.0004_run_functions").START_RUN
    )
