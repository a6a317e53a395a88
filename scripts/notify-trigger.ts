/**
 * The optional NOTIFY trigger (docs/design.md §4): a schedule created or moved by the API wakes
 * the scheduler at once. docs/design.md shows this text for `rune_schedules`; a test holds the two
 * equal.
 */

/** The engine's sessions: its own UPDATE after a fire must not wake it again. */
export const SCHEDULER_APPLICATION_NAME = "rune-scheduler";

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_$]{0,62}$/;

/** SQL installing the trigger for `channel` (a PostgreSQL identifier, as config.ts requires). */
export function notifyTriggerSql(channel: string): string {
  // DDL takes no parameters; the channel is a literal, so only identifier characters may pass.
  if (!IDENTIFIER.test(channel)) throw new Error(`not a PostgreSQL identifier: ${JSON.stringify(channel)}`);
  return `CREATE OR REPLACE FUNCTION rune_schedules_notify() RETURNS trigger AS $$
BEGIN
  -- Not for the scheduler's own UPDATE after a fire: it has just looked.
  IF current_setting('application_name', true) IS DISTINCT FROM '${SCHEDULER_APPLICATION_NAME}' THEN
    PERFORM pg_notify('${channel}', '');
  END IF;
  RETURN NULL;
END $$ LANGUAGE plpgsql;

DROP TRIGGER IF EXISTS rune_schedules_notify ON scheduled_workflows;
CREATE TRIGGER rune_schedules_notify
  AFTER INSERT OR UPDATE OF next_run_at, is_active, interval_seconds ON scheduled_workflows
  FOR EACH STATEMENT EXECUTE FUNCTION rune_schedules_notify();
`;
}
