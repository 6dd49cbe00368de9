import { becomeRoot, becomeUser, closeRootPool, errorOf, withRootDb } from "../support/db.ts";
import { createCoach } from "../support/fixtures.ts";

// The door that lets restored rows keep their archived times
// (governance.begin_archive_restoration) is the owner's alone (the API's roles
// may not even name created_at), and the setting it uses proves nothing by
// itself: without the restore recorded in the same transaction, the database
// sets the times, whatever the writer sends.

afterAll(closeRootPool);

const pinned = "2020-01-01T00:00:00Z";

async function insertClientWithPinnedTimes(client: import("pg").ClientBase, profileId: string) {
  const { rows } = await client.query(
    `insert into app_public.clients (coach_profile_id, full_name, created_at, updated_at) values ($1, 'Pinned', $2, $2) returning created_at`,
    [profileId, pinned],
  );
  return (rows[0].created_at as Date).toISOString();
}

test("only the owner may begin a restore, and only a restore recorded in the same transaction keeps archived times", () =>
  withRootDb(async (client) => {
    const coach = await createCoach(client, "restoration-rule");
    await becomeUser(client, coach.user);
    expect(await errorOf(client, "select governance.begin_archive_restoration(gen_random_uuid(), 'app_public.clients')")).toMatchObject({
      code: "42501", message: "permission denied for function begin_archive_restoration" });
    expect(await errorOf(client, "insert into app_public.clients (coach_profile_id, full_name, created_at) values ($1, 'Pinned', $2)", [coach.profileId, pinned]))
      .toMatchObject({ code: "42501", message: "permission denied for table clients" });

    // As the owner, inside a recorded restore, the archived times stay; after it ends, they do not.
    await becomeRoot(client);
    await client.query("set local role custodian_owner");
    await client.query("select governance.begin_archive_restoration(gen_random_uuid(), 'app_public.clients')");
    expect(await insertClientWithPinnedTimes(client, coach.profileId)).toBe(new Date(pinned).toISOString());
    await client.query("select governance.end_archive_restoration()");
    expect(await insertClientWithPinnedTimes(client, coach.profileId)).not.toBe(new Date(pinned).toISOString());

    // The id of a restore recorded by another transaction, put into the setting by hand: the owner's times are replaced again.
    await becomeRoot(client);
    const { rows } = await client.query(
      "insert into governance.archive_restorations (archive_id, table_name, transaction_id) values (gen_random_uuid(), 'app_public.clients', '3'::xid8) returning id");
    await client.query("set local role custodian_owner");
    await client.query("select set_config('governance.archive_restoration_id', $1, true)", [String(rows[0].id)]);
    expect(await insertClientWithPinnedTimes(client, coach.profileId)).not.toBe(new Date(pinned).toISOString());
  }));
