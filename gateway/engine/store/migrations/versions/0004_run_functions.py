"""PostgreSQL: a run's store work in one round trip per transaction (functions; SQLite has none).

`gateway_start_run` is `Runs.create` / `create_started` (lock the thread, check it has no active run,
insert the additional messages and the run with its assistant's defaults, read the history); and
`gateway_batch` is `Batch.write` (the run's compare-and-set transition as the guard, then the batch's
inserts and updates in order). One call each, run alone in autocommit (store/db.py `one_statement`):
one round trip where the statements one by one took BEGIN, five, COMMIT. Each statement in a function
takes a fresh snapshot (READ COMMITTED), so the active-run check after the thread lock sees what the
previous holder committed, as with separate statements.

JSON values come in as one `json` argument and are stored as the text they have there (`->` keeps it:
orjson's, as SQLAlchemy's serializer writes it), so rows read back the same; a null is stored as JSON
`null` as SQLAlchemy stores None. The statements mirror the module-level SQLAlchemy ones (runs.py,
batch.py, messages.py, steps.py, rows.py): the store tests run both databases over them.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

ACTIVE = "('queued', 'in_progress', 'requires_action', 'cancelling')"

START_RUN = f"""
CREATE FUNCTION gateway_start_run(p_run json, p_messages json, p_start boolean) RETURNS json
LANGUAGE plpgsql AS $fn$
DECLARE
    v_tenant text := p_run->>'tenant';
    v_thread text := p_run->>'thread_id';
    a record;
    v_active text;
    v_msg json;
    v_history json;
BEGIN
    SELECT assistants.id, assistants.model, assistants.instructions, assistants.tools,
           assistants.temperature, assistants.top_p, assistants.response_format
      INTO a
      FROM threads LEFT OUTER JOIN assistants
        ON assistants.id = p_run->>'assistant_id' AND assistants.tenant = v_tenant
     WHERE threads.id = v_thread AND threads.tenant = v_tenant
       FOR UPDATE OF threads;
    IF NOT FOUND THEN
        RETURN json_build_object('error', 'thread');
    END IF;
    SELECT runs.id INTO v_active FROM runs
     WHERE runs.thread_id = v_thread AND runs.status IN {ACTIVE} LIMIT 1;
    IF v_active IS NOT NULL THEN
        RETURN json_build_object('error', 'busy', 'active', v_active);
    END IF;
    IF a.id IS NULL THEN
        RETURN json_build_object('error', 'assistant');
    END IF;
    FOR v_msg IN SELECT value FROM json_array_elements(p_messages) LOOP
        INSERT INTO messages (id, tenant, thread_id, created_at, role, status, content, assistant_id,
                              run_id, attachments, completed_at, incomplete_at, incomplete_details,
                              metadata, replay)
        VALUES (v_msg->>'id', v_msg->>'tenant', v_msg->>'thread_id', (v_msg->>'created_at')::bigint,
                v_msg->>'role', v_msg->>'status', v_msg->'content', v_msg->>'assistant_id',
                v_msg->>'run_id', v_msg->'attachments', (v_msg->>'completed_at')::bigint,
                (v_msg->>'incomplete_at')::bigint, v_msg->'incomplete_details', v_msg->'metadata',
                v_msg->'replay');
    END LOOP;
    INSERT INTO runs (id, tenant, thread_id, assistant_id, created_at, status, started_at, expires_at,
                      cancelled_at, failed_at, completed_at, required_action, last_error,
                      incomplete_details, usage, model, instructions, tools, metadata, temperature,
                      top_p, max_prompt_tokens, max_completion_tokens, truncation_strategy,
                      response_format, tool_choice, parallel_tool_calls, lease_owner, lease_until)
    VALUES (p_run->>'id', v_tenant, v_thread, p_run->>'assistant_id', (p_run->>'created_at')::bigint,
            CASE WHEN p_start THEN 'in_progress' ELSE p_run->>'status' END,
            CASE WHEN p_start THEN (p_run->>'created_at')::bigint ELSE (p_run->>'started_at')::bigint END,
            (p_run->>'expires_at')::bigint, (p_run->>'cancelled_at')::bigint,
            (p_run->>'failed_at')::bigint, (p_run->>'completed_at')::bigint, p_run->'required_action',
            p_run->'last_error', p_run->'incomplete_details', p_run->'usage',
            coalesce(p_run->>'model', a.model), coalesce(p_run->>'instructions', a.instructions, ''),
            CASE WHEN json_typeof(p_run->'tools') = 'null' THEN a.tools ELSE p_run->'tools' END,
            p_run->'metadata', coalesce((p_run->>'temperature')::float8, a.temperature),
            coalesce((p_run->>'top_p')::float8, a.top_p), (p_run->>'max_prompt_tokens')::integer,
            (p_run->>'max_completion_tokens')::integer, p_run->'truncation_strategy',
            CASE WHEN json_typeof(p_run->'response_format') = 'null' THEN a.response_format
                 ELSE p_run->'response_format' END,
            p_run->'tool_choice', (p_run->>'parallel_tool_calls')::boolean, p_run->>'lease_owner',
            (p_run->>'lease_until')::float8);
    IF p_start THEN
        SELECT json_build_object(
            'messages', (SELECT coalesce(json_agg(json_build_object(
                    'seq', m.seq, 'id', m.id, 'role', m.role, 'status', m.status, 'content', m.content,
                    'attachments', m.attachments, 'run_id', m.run_id, 'replay', m.replay) ORDER BY m.seq),
                    '[]') FROM messages m WHERE m.thread_id = v_thread AND m.tenant = v_tenant),
            'steps', (SELECT coalesce(json_agg(json_build_object(
                    'id', s.id, 'run_id', s.run_id, 'anchor_seq', s.anchor_seq, 'replay', s.replay)
                    ORDER BY s.anchor_seq, s.seq), '[]')
                    FROM run_steps s
                    WHERE s.thread_id = v_thread AND s.tenant = v_tenant AND s.type = 'tool_calls'),
            'results', (SELECT coalesce(json_agg(json_build_object(
                    'step_id', r.step_id, 'run_id', r.run_id, 'tool_call_id', r.tool_call_id,
                    'output', r.output) ORDER BY r.seq), '[]')
                    FROM tool_results r WHERE r.thread_id = v_thread AND r.tenant = v_tenant))
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

# Ops: {"op": "message" | "step" | "result", "row": {...}} inserts; {"op": "checkpoint" | "complete" |
# "step_set", "id": ..., "set": {...}} updates an in_progress row, setting the columns `set` names.
BATCH = """
CREATE FUNCTION gateway_batch(p_move json, p_ops json) RETURNS boolean
LANGUAGE plpgsql AS $fn$
DECLARE
    s json;
    v_op json;
    r json;
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
    FOR v_op IN SELECT value FROM json_array_elements(p_ops) LOOP
        r := v_op->'row';
        s := v_op->'set';
        CASE v_op->>'op'
        WHEN 'message' THEN
            INSERT INTO messages (id, tenant, thread_id, created_at, role, status, content, assistant_id,
                                  run_id, attachments, completed_at, incomplete_at, incomplete_details,
                                  metadata, replay)
            VALUES (r->>'id', r->>'tenant', r->>'thread_id', (r->>'created_at')::bigint, r->>'role',
                    r->>'status', r->'content', r->>'assistant_id', r->>'run_id', r->'attachments',
                    (r->>'completed_at')::bigint, (r->>'incomplete_at')::bigint, r->'incomplete_details',
                    r->'metadata', r->'replay');
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
            UPDATE messages SET content = s->'content'
             WHERE messages.id = v_op->>'id' AND messages.status = 'in_progress';
        WHEN 'complete' THEN
            UPDATE messages SET
                status = s->>'status',
                content = s->'content',
                incomplete_details = s->'incomplete_details',
                replay = s->'replay',
                completed_at = CASE WHEN s->'completed_at' IS NOT NULL THEN (s->>'completed_at')::bigint
                                    ELSE messages.completed_at END,
                incomplete_at = CASE WHEN s->'incomplete_at' IS NOT NULL
                                     THEN (s->>'incomplete_at')::bigint ELSE messages.incomplete_at END
             WHERE messages.id = v_op->>'id' AND messages.status = 'in_progress';
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
             WHERE run_steps.id = v_op->>'id' AND run_steps.status = 'in_progress';
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
    op.execute("DROP FUNCTION gateway_batch(json, json)")
    op.execute("DROP FUNCTION gateway_start_run(json, json, boolean)")
