"""PostgreSQL: `gateway_batch` with a message's content and replay passed as texts of their own.

0004's `gateway_batch(json, json)` reads each field of an op with `->`/`->>`, and on a `json` value
each of those parses the op's text again. A checkpoint op carries the reply so far, so every tick
parsed each reply about seven times: at 500 open streams that was nearly all the database server's
CPU. This overload takes the ops once, through `json_to_recordset`, and a message's `content` and
`replay` (the long values: the reply's text) in `p_json`, an array of JSON texts the op points into
by position (1-based). Each of them is parsed once, by its `::json` cast, and stored as that text,
as 0004 stored it.

Ops, as 0004's but for messages:
- `{"op": "message", "row": {...}, "content": i, "replay": j}`: the row without content and replay;
- `{"op": "checkpoint", "id": ..., "content": i}`;
- `{"op": "complete", "id": ..., "set": {...}, "content": i, "replay": j}`: `set` without them.

0004's function stays, so replicas of the previous release keep writing while a rolling upgrade
replaces them.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

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
    op.execute(BATCH)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP FUNCTION gateway_batch(json, json, text[])")
