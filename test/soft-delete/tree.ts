import type pg from "pg";
import { createCoach, grantConsents, type Coach } from "../support/fixtures.ts";

/** A coach with a small tree: 2 clients × 2 sessions × 2 transcriptions (the fixture's own rows included). */
export interface Tree {
  coach: Coach;
  clients: string[];
  sessions: string[];
  transcriptions: string[];
}

export async function createTree(client: pg.ClientBase, label = "tree"): Promise<Tree> {
  const coach = await createCoach(client, label);
  const second = await client.query(
    "insert into app_public.clients (coach_profile_id, full_name) values ($1, 'Second client') returning id",
    [coach.profileId],
  );
  const clients = [coach.clientId, second.rows[0].id as string];
  await grantConsents(client, [second.rows[0].id]);
  await client.query(
    `insert into app_public.coaching_sessions (client_id, title, recorded_at, audio_object_key, audio_duration_seconds)
     select c, 'Session', now(), 'recordings/x.m4a', 600 from unnest($1::uuid[]) c, generate_series(1, 2) n
     where not (c = $2 and n = 1)`,
    [clients, coach.clientId],
  );
  const sessions = (await client.query(
    "select id from app_public.coaching_sessions where coach_profile_id = $1 order by client_id = $2 desc, id",
    [coach.profileId, coach.clientId],
  )).rows.map((row) => row.id as string);
  await client.query(
    `insert into app_public.transcriptions (session_id, provider, model)
     select s, 'deepgram', 'nova-2' from unnest($1::uuid[]) s, generate_series(1, 2) n
     where not (s = $2 and n = 1)`,
    [sessions, coach.sessionId],
  );
  const transcriptions = (await client.query(
    "select id from app_public.transcriptions where coach_profile_id = $1 order by id",
    [coach.profileId],
  )).rows.map((row) => row.id as string);
  return { coach, clients, sessions, transcriptions };
}

export const softDeleteTables = ["coach_profiles", "clients", "coaching_sessions", "transcriptions"] as const;
export type SoftDeleteTable = (typeof softDeleteTables)[number];

/** Each row of the coach's tree that is deleted, as "table:batch", in a stable order. */
export async function deletedRows(client: pg.ClientBase, profileId: string): Promise<Array<{ table: string; id: string; batch: string }>> {
  const { rows } = await client.query(
    `select 'coach_profiles' as table, id, deletion_batch_id as batch from app_public.coach_profiles where id = $1 and is_deleted
     union all select 'clients', id, deletion_batch_id from app_public.clients where coach_profile_id = $1 and is_deleted
     union all select 'coaching_sessions', id, deletion_batch_id from app_public.coaching_sessions where coach_profile_id = $1 and is_deleted
     union all select 'transcriptions', id, deletion_batch_id from app_public.transcriptions where coach_profile_id = $1 and is_deleted
     order by 1, 2`,
    [profileId],
  );
  return rows;
}
