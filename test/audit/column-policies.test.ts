import type pg from "pg";
import { becomeRoot, becomeUser, closeRootPool, withRootDb } from "../support/db.ts";
import { createCoach, createUser } from "../support/fixtures.ts";

afterAll(closeRootPool);

async function storedEvent(client: pg.ClientBase, table: string, id: string) {
  const { rows } = await client.query(
    `select id, old_values, new_values, subject_id, audit.reveal(new_values, subject_id) as revealed
     from audit.events where table_name = $1 and record_key = jsonb_build_object('id', $2::uuid) order by id desc limit 1`,
    [table, id],
  );
  return rows[0];
}

test("pii is stored encrypted: the client's name, email and notes never appear in clear in the trail", () =>
  withRootDb(async (client) => {
    const coach = await createCoach(client);
    await client.query("update app_public.clients set notes = 'confidential: burnout' where id = $1", [coach.clientId]);
    const { rows } = await client.query(
      `select count(*)::int as n from audit.events
       where record_key = jsonb_build_object('id', $1::uuid)
         and (coalesce(old_values::text, '') || new_values::text) ~ '(burnout|Client of)'`,
      [coach.clientId],
    );
    expect(rows[0].n).toBe(0);
    const event = await storedEvent(client, "clients", coach.clientId);
    expect(event.new_values.notes).toEqual({ $pii: expect.stringMatching(/^[A-Za-z0-9+/=]{40,}$/) });
    expect(event.subject_id).toBe(coach.clientId);
    expect(event.revealed.notes).toBe("confidential: burnout");
  }));

test("each table's rows belong to the right person: a session and a transcription to the session's client", () =>
  withRootDb(async (client) => {
    const coach = await createCoach(client);
    expect((await storedEvent(client, "coaching_sessions", coach.sessionId)).subject_id).toBe(coach.clientId);
    const transcription = await storedEvent(client, "transcriptions", coach.transcriptionId);
    expect(transcription.subject_id).toBe(coach.clientId);
    expect(transcription.new_values.transcript_text).toHaveProperty("$pii");
    expect(transcription.revealed.transcript_text).toBe("Hello.");
    expect((await storedEvent(client, "users", coach.user.id)).subject_id).toBe(coach.user.id);
  }));

test("a cascade keeps the subject: a transcription hard-deleted with its session is still encrypted for the client", () =>
  withRootDb(async (client) => {
    const coach = await createCoach(client);
    await client.query("select governance.hard_delete('app_public.clients', $1, 'erasure test')", [coach.clientId]);
    const { rows } = await client.query(
      `select table_name, operation, subject_id, old_values ? 'transcript_text' as has_text,
              audit.reveal(old_values, subject_id) ->> 'transcript_text' as text
       from audit.events where table_name = 'transcriptions' and record_key = jsonb_build_object('id', $1::uuid)
       order by id desc limit 1`,
      [coach.transcriptionId],
    );
    expect(rows[0]).toEqual({ table_name: "transcriptions", operation: "HARD_DELETE", subject_id: coach.clientId, has_text: true, text: "Hello." });
  }));

test("an excluded column is never stored, only named as changed: the password hash", () =>
  withRootDb(async (client) => {
    const user = await createUser(client, "coach");
    await client.query("update app_private.user_secrets set password_hash = crypt('new-password-1', gen_salt('bf', 4)) where user_id = $1", [
      user.id,
    ]);
    const { rows } = await client.query(
      `select operation, old_values, new_values, changed_columns from audit.events
       where table_name = 'user_secrets' and record_key = jsonb_build_object('user_id', $1::uuid) order by id`,
      [user.id],
    );
    expect(rows.map((row) => row.operation)).toEqual(["INSERT", "UPDATE"]);
    expect(rows[0].new_values).not.toHaveProperty("password_hash");
    expect(rows[1]).toEqual({ operation: "UPDATE", old_values: {}, new_values: {}, changed_columns: ["password_hash"] });
    const leaked = await client.query("select count(*)::int as n from audit.events where new_values::text like '%$2a$%' or old_values::text like '%$2a$%'");
    expect(leaked.rows[0].n).toBe(0);
  }));

test("destroying a person's key makes their pii unreadable for everyone, without touching an audit row", () =>
  withRootDb(async (client) => {
    const coach = await createCoach(client);
    const before = await storedEvent(client, "clients", coach.clientId);
    const { rows } = await client.query("select audit.destroy_subject_key($1) as destroyed", [coach.clientId]);
    expect(rows[0].destroyed).toBe(true);

    const after = await storedEvent(client, "clients", coach.clientId);
    expect(after.new_values).toEqual(before.new_values);
    expect(after.revealed).toMatchObject({ full_name: { $erased: true }, email: { $erased: true }, id: coach.clientId });
    // Other people's pii stays readable.
    expect((await storedEvent(client, "users", coach.user.id)).revealed.display_name).toBe("coach");
    // New writes about the erased person store no readable pii either.
    await client.query("update app_public.clients set notes = 'after erasure' where id = $1", [coach.clientId]);
    expect((await storedEvent(client, "clients", coach.clientId)).new_values.notes).toEqual({ $pii: null });
  }));

test("a coach reads their own clients' pii; another coach's client's pii is redacted for them", () =>
  withRootDb(async (client) => {
    const mine = await createCoach(client, "mine");
    const theirs = await createCoach(client, "theirs");
    const event = await storedEvent(client, "clients", theirs.clientId);
    await becomeUser(client, mine.user);
    const { rows } = await client.query(
      `select audit.reveal($1::jsonb, $2) as theirs,
              (select audit.reveal(new_values, subject_id) from audit.events
               where table_name = 'clients' and record_key = jsonb_build_object('id', $3::uuid) and operation = 'INSERT') as mine`,
      [event.new_values, theirs.clientId, mine.clientId],
    );
    expect(rows[0].theirs.full_name).toEqual({ $redacted: "pii" });
    expect(rows[0].mine.full_name).toBe("Client of mine");
    await becomeRoot(client);
  }));

test("admins and auditors read pii; the policies of the domain tables are as shipped", () =>
  withRootDb(async (client) => {
    const coach = await createCoach(client);
    const event = await storedEvent(client, "clients", coach.clientId);
    for (const role of ["admin", "auditor"] as const) {
      const user = await createUser(client, role);
      await becomeUser(client, user);
      const { rows } = await client.query("select audit.reveal($1::jsonb, $2) as values", [event.new_values, coach.clientId]);
      expect(rows[0].values.full_name).toBe("Client of coach");
      await becomeRoot(client);
    }
    const policies = await client.query(
      `select p.table_oid::text as table, string_agg(a.attname || ':' || p.policy, ',' order by a.attname) as columns
       from audit.column_policies p join pg_attribute a on a.attrelid = p.table_oid and a.attnum = p.column_number
       group by 1 order by 1`,
    );
    expect(policies.rows).toEqual([
      { table: "app_private.sign_in_attempts", columns: "email:pii" },
      { table: "app_private.user_secrets", columns: "password_hash:exclude" },
      { table: "app_public.clients", columns: "email:pii,full_name:pii,notes:pii,phone:pii" },
      { table: "app_public.coach_profiles", columns: "bio:pii,display_name:pii" },
      { table: "app_public.coaching_sessions", columns: "title:pii" },
      { table: "app_public.data_subject_requests", columns: "extension_reason:pii,rejection_reason:pii,verification:pii" },
      { table: "app_public.transcriptions", columns: "error_message:pii,transcript_text:pii" },
      { table: "app_public.users", columns: "display_name:pii,email:pii" },
    ]);
  }));

test("a coach still reads the personal data in the history of their own client after it is hard-deleted", () =>
  withRootDb(async (client) => {
    const coach = await createCoach(client, "deleter");
    await client.query("select governance.hard_delete('app_public.clients', $1, 'retention test')", [coach.clientId]);
    await becomeUser(client, coach.user);
    const { rows } = await client.query(
      "select operation, old_values ->> 'full_name' as name from app_public.audit_record_history('clients', to_jsonb($1::text)) where operation = 'HARD_DELETE'",
      [coach.clientId],
    );
    expect(rows).toEqual([{ operation: "HARD_DELETE", name: "Client of deleter" }]);
    await becomeRoot(client);
  }));

test("renaming a pii column keeps its values encrypted", () =>
  withRootDb(async (client) => {
    const coach = await createCoach(client, "renamer");
    await client.query("alter table app_public.clients rename column notes to private_notes");
    await client.query("update app_public.clients set private_notes = 'still secret' where id = $1", [coach.clientId]);
    const event = await storedEvent(client, "clients", coach.clientId);
    expect(event.new_values.private_notes).toHaveProperty("$pii");
    expect(JSON.stringify(event.new_values)).not.toContain("still secret");
    expect(event.revealed.private_notes).toBe("still secret");
  }));

test("a row moved to another person keeps its old values under the old person's key", () =>
  withRootDb(async (client) => {
    const coach = await createCoach(client, "mover");
    const second = await client.query(
      "insert into app_public.clients (coach_profile_id, full_name) values ($1, 'Second client') returning id",
      [coach.profileId],
    );
    await client.query("update app_public.coaching_sessions set client_id = $2, title = 'Moved' where id = $1", [
      coach.sessionId,
      second.rows[0].id,
    ]);
    await client.query("select audit.destroy_subject_key($1)", [coach.clientId]);
    const stored = await client.query(
      "select subject_id, old_subject_id from audit.events where table_name = 'coaching_sessions' and record_key = jsonb_build_object('id', $1::uuid) and operation = 'UPDATE'",
      [coach.sessionId],
    );
    expect(stored.rows).toEqual([{ subject_id: second.rows[0].id, old_subject_id: coach.clientId }]);
    const { rows } = await client.query(
      "select old_values -> 'title' as old_title, new_values -> 'title' as new_title from app_public.audit_record_history('coaching_sessions', to_jsonb($1::text)) where operation = 'UPDATE'",
      [coach.sessionId],
    );
    // The first client was erased: their old title with them; the new one stays readable.
    expect(rows).toEqual([{ old_title: { $erased: true }, new_title: "Moved" }]);
  }));

test("each pii value is sealed afresh: the same notes written twice are stored differently and both read back", () =>
  withRootDb(async (client) => {
    const coach = await createCoach(client);
    await client.query("update app_public.clients set notes = 'same words' where id = $1", [coach.clientId]);
    const first = await storedEvent(client, "clients", coach.clientId);
    await client.query("update app_public.clients set notes = 'other words' where id = $1", [coach.clientId]);
    await client.query("update app_public.clients set notes = 'same words' where id = $1", [coach.clientId]);
    const second = await storedEvent(client, "clients", coach.clientId);
    expect(second.new_values.notes.$pii).not.toBe(first.new_values.notes.$pii);
    expect([first.revealed.notes, second.revealed.notes]).toEqual(["same words", "same words"]);
  }));
