-- Demo/test database for the streaming-migration runbook: the seed's outline_sessions table as it
-- looks after the streaming migration, with sessions stuck the way the seed describes.
-- Idempotent: drops and recreates the table. Deterministic apart from timestamps (relative to now()).
--
-- 600 workflows, 5 sessions each (3000 rows):
--   sessions 1-3 of every workflow: finished (completed / failed), inactive.
--   session 4: inactive streaming attempt.
--   session 5 (the one active session allowed per workflow by the unique index):
--     workflows   1-120: status 'error', still active           -> stuck (reset)
--     workflows 121-300: 'streaming', not updated for 45-165 min -> stuck (reset)
--     workflows 301-420: 'streaming', updated in the last 5 min  -> healthy, stays active
--     workflows 421-600: inactive 'completed'
-- So 300 sessions are stuck and 120 stay active.

DROP TABLE IF EXISTS outline_sessions;

CREATE TABLE outline_sessions (
  id bigserial PRIMARY KEY,
  workflow_id uuid NOT NULL,
  status text NOT NULL CHECK (status IN ('pending', 'streaming', 'completed', 'failed', 'error')),
  is_active boolean NOT NULL DEFAULT false,
  error_message text,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  -- added by the streaming migration
  last_sequence_number integer,
  connection_status text,
  stream_started_at timestamptz,
  partial_content text
);

INSERT INTO outline_sessions
  (workflow_id, status, is_active, error_message, created_at, updated_at,
   last_sequence_number, connection_status, stream_started_at, partial_content)
SELECT
  md5('workflow-' || w)::uuid,
  CASE
    WHEN s <= 2 THEN 'completed'
    WHEN s = 3 THEN 'failed'
    WHEN s = 4 THEN 'completed'
    WHEN w <= 120 THEN 'error'
    WHEN w <= 420 THEN 'streaming'
    ELSE 'completed'
  END,
  s = 5 AND w <= 420,
  CASE
    WHEN s = 3 THEN 'OpenAI request timed out'
    WHEN s = 5 AND w <= 120 THEN 'stream closed by client (code ' || (1000 + w % 7) || ')'
  END,
  now() - make_interval(days => 6 - s, mins => w % 60),
  CASE
    WHEN s < 5 THEN now() - make_interval(days => 6 - s)
    WHEN w <= 120 THEN now() - make_interval(mins => 2 + w % 20)
    WHEN w <= 300 THEN now() - make_interval(mins => 45 + w % 120)
    WHEN w <= 420 THEN now() - make_interval(secs => w % 300)
    ELSE now() - make_interval(hours => 2)
  END,
  CASE WHEN s >= 4 THEN (w * 7 + s) % 500 END,
  CASE
    WHEN s = 4 THEN 'closed'
    WHEN s = 5 AND w <= 120 THEN 'errored'
    WHEN s = 5 AND w <= 300 THEN 'stale'
    WHEN s = 5 AND w <= 420 THEN 'open'
  END,
  CASE WHEN s >= 4 THEN now() - make_interval(days => 6 - s, mins => w % 60) END,
  CASE WHEN s >= 4 THEN repeat('## Outline section ' || w || E'\n', 1 + w % 5) END
FROM generate_series(1, 600) AS w, generate_series(1, 5) AS s
ORDER BY w, s;

-- The streaming migration's rule: one active session per workflow.
CREATE UNIQUE INDEX uniq_outline_active_per_workflow
  ON outline_sessions (workflow_id) WHERE is_active;

CREATE INDEX outline_sessions_workflow_idx ON outline_sessions (workflow_id);

ANALYZE outline_sessions;
