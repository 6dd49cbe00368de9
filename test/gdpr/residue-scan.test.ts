import type pg from "pg";
import { becomeRoot, becomeUser, closeRootPool, withRootDb } from "../support/db.ts";
import { createUser } from "../support/fixtures.ts";
import { holdOffInspectionCopiesWhileThisFileRuns, plantClient, residuePlaces, verifiedErasureRequest } from "../support/gdpr.ts";

holdOffInspectionCopiesWhileThisFileRuns();

// The residue scan (proof of erasure) on its own: it searches every text,
// varchar, citext and jsonb column of every Custodian table, the audit trail
// with its pii decrypted, and names each place a value is still found.

afterAll(closeRootPool);

/** A table classified after the erasure was written: tracked, its remark is the client's content. */
async function laterClassifiedTable(client: pg.ClientBase): Promise<void> {
  await client.query(`create table app_public.erasure_probes (
    id uuid primary key default gen_random_uuid(), client_id uuid not null references app_public.clients on delete cascade, remark text)`);
  await client.query("alter table app_public.erasure_probes enable row level security");
  await client.query("alter table app_public.erasure_probes owner to custodian_owner");
  await client.query("select audit.enable_tracking('app_public.erasure_probes', subject_column => 'client_id')");
  await client.query(`select governance.classify_column('app_public.erasure_probes', 'remark', 'content', 'client', 'A probe of later tables.', 'contract')`);
}

test("planted values are found everywhere before the erasure (rows, soft-deleted rows, history of updates, soft deletes and TRUNCATE) and nowhere after", () =>
  withRootDb(async (client) => {
    const planted = await plantClient(client);
    await laterClassifiedTable(client);
    const truncatedRemark = `Planted truncated remark about "${planted.identifiers[0]}"`;
    const liveRemark = "Planted remark of a table classified later";
    await client.query("insert into app_public.erasure_probes (client_id, remark) values ($1, $2)", [planted.clientId, truncatedRemark]);
    await client.query("truncate app_public.erasure_probes");
    await client.query("insert into app_public.erasure_probes (client_id, remark) values ($1, $2)", [planted.clientId, liveRemark]);
    const truncated = await client.query(
      "select count(*)::int as n from audit.events where table_name = 'erasure_probes' and operation = 'TRUNCATE' and old_values -> 'remark' ? '$pii'");
    expect(truncated.rows[0].n).toBe(1);

    const identifiers = planted.identifiers;
    const contents = [...planted.contents, truncatedRemark, liveRemark];
    expect(await residuePlaces(client, identifiers, contents)).toEqual([
      "app_public.clients.email ×1", "app_public.clients.full_name ×1", "app_public.clients.notes ×1", "app_public.clients.phone ×1",
      "app_public.coaching_sessions.title ×2", "app_public.erasure_probes.remark ×1",
      "app_public.transcriptions.error_message ×1", "app_public.transcriptions.transcript_text ×1",
      // Inserts (6 + 2 probes, one of them naming the client inside a quoted string), the rename, the TRUNCATE.
      "audit.events.new_values ×8", "audit.events.old_values ×2",
    ]);
    const rowKeys = await client.query("select row_key from governance.residue_scan($1, $2) where table_name = 'app_public.clients'", [identifiers, contents]);
    expect(rowKeys.rows).toEqual(Array(4).fill({ row_key: { id: planted.clientId } }));

    const admin = await createUser(client, "admin");
    const requestId = await verifiedErasureRequest(client, planted.clientId);
    await becomeUser(client, admin);
    const { rows: [erasure] } = await client.query("select rows_by_table, residue_count from app_public.erase_data_subject($1)", [requestId]);
    expect(erasure).toEqual({
      rows_by_table: { "app_public.clients": 1, "app_public.coaching_sessions": 2, "app_public.transcriptions": 2, "app_public.erasure_probes": 1 },
      residue_count: 0,
    });
    expect(await residuePlaces(client, identifiers, contents)).toEqual([]);
    await becomeRoot(client);
  }));

test("identifiers are found inside longer text in any case and as JSON spells them; contents only whole; values under 4 characters not at all", () =>
  withRootDb(async (client) => {
    const planted = await plantClient(client);
    const admin = await createUser(client, "admin");
    await client.query("update app_public.clients set notes = $2 where id = $1", [planted.coach.clientId, `Met ${planted.identifiers[0].toUpperCase()} at a fair.`]);
    await becomeUser(client, admin);
    const places = async (identifiers: string[], contents: string[]) =>
      (await client.query("select table_name, column_name, row_key from governance.residue_scan($1, $2) where table_name not like 'audit.%'", [identifiers, contents])).rows;
    expect(await places([planted.identifiers[0]], [])).toEqual([
      { table_name: "app_public.clients", column_name: "full_name", row_key: { id: planted.clientId } },
      { table_name: "app_public.clients", column_name: "notes", row_key: { id: planted.coach.clientId } },
    ]);
    // A content value is residue only whole: a note quoting part of a transcript is not its copy.
    expect(await places([], [planted.contents[3].slice(0, 30)])).toEqual([]);
    expect(await places([], [planted.contents[3]])).toEqual([
      { table_name: "app_public.transcriptions", column_name: "transcript_text", row_key: expect.objectContaining({ id: expect.any(String) }) },
    ]);
    expect(await places(["Zep", "", "   "], ["Pla"])).toEqual([]);
    // Quotes and backslashes are found inside jsonb (the audit trail) as JSON escapes them.
    await becomeRoot(client);
    await client.query("update app_public.clients set full_name = $2 where id = $1", [planted.clientId, 'Zoë "Q\\uaglia" Planted']);
    const trail = await client.query(
      "select count(*)::int as n from governance.residue_scan($1, '{}') where table_name = 'audit.events'", [['Zoë "Q\\uaglia" Planted']]);
    expect(trail.rows[0].n).toBe(1);
  }));

test("a damaged sealed value in the trail stops nothing: the trail is read again value by value and the planted values are still found; LIKE's own characters in a value match only themselves", () =>
  withRootDb(async (client) => {
    const planted = await plantClient(client);
    const before = await residuePlaces(client, planted.identifiers, planted.contents);
    // Another person's sealed name damaged on disk (the trail refuses updates; a superuser turns its triggers off here).
    const { rows: [damaged] } = await client.query(
      `select e.id from audit.events e join app_private.audit_subject_keys k on k.subject_id = e.subject_id
       where e.table_name = 'clients' and e.new_values -> 'full_name' ? '$pii' and e.subject_id <> $1 order by e.id desc limit 1`, [planted.clientId]);
    await client.query("set local session_replication_role = replica");
    await client.query(`update audit.events set new_values = jsonb_set(new_values, '{full_name}', '{"$pii": "bm90IGEgY2lwaGVydGV4dA=="}') where id = $1`, [damaged.id]);
    await client.query("set local session_replication_role = origin");
    const read = await client.query("select audit.reveal(new_values, subject_id, owner_id) -> 'full_name' as name from audit.events where id = $1", [damaged.id]);
    expect(read.rows).toEqual([{ name: { $corrupt: true } }]);
    expect(await residuePlaces(client, planted.identifiers, planted.contents)).toEqual(before);

    await client.query("update app_public.clients set notes = 'Code 1x2yy3 ok' where id = $1", [planted.coach.clientId]);
    const notes = async (identifier: string) => (await client.query(
      "select count(*)::int as n from governance.residue_scan($1, '{}') where table_name = 'app_public.clients' and column_name = 'notes'", [[identifier]])).rows[0].n;
    expect(await notes("1_2%3")).toBe(0);
    await client.query("update app_public.clients set notes = 'Code 1_2%3 ok' where id = $1", [planted.coach.clientId]);
    expect(await notes("1_2%3")).toBe(1);
  }));
