import { becomeRoot, becomeUser, closeRootPool, errorOf, withRootDb } from "../support/db.ts";
import { createCoach, createUser } from "../support/fixtures.ts";
import { holdClient, plantDeletedClient } from "../support/retention.ts";

// The dry run and the compliance figure, at pinned instants in 1990-1991 (so
// rows of other tests, all later, stay out of them), in transactions rolled
// back: rows past their period, their oldest and newest clock, a sample of
// keys, and the rows a legal hold spares, as each role. Over GraphQL and REST
// (committed) in run.test.ts, which owns the committed rows of 2000.

afterAll(closeRootPool);

const preview = "select * from app_public.retention_preview($1, $2)";

test("the preview counts the rows past their period at as_of, oldest first, and counts apart those a hold on the client or on the coach's profile spares", () =>
  withRootDb(async (client) => {
    const coach = await createCoach(client);
    const auditor = await createUser(client, "auditor");
    const january = await plantDeletedClient(client, coach, "1990-01-10T00:00:00Z", "january");
    const june = await plantDeletedClient(client, coach, "1990-06-01T00:00:00Z", "june");
    const held = await plantDeletedClient(client, coach, "1990-02-01T00:00:00Z", "held");
    await plantDeletedClient(client, coach, "1990-12-01T00:00:00Z", "december");
    await holdClient(client, held);
    await becomeUser(client, auditor);
    // As of 1990-10-01 the cutoff is 1990-07-03: January, the held February and June are past it; December is not.
    const { rows: [clients] } = await client.query(preview, ["soft_deleted_clients", "1990-10-01T00:00:00Z"]);
    expect(clients).toMatchObject({
      policy_name: "soft_deleted_clients", action: "archive_then_delete", rows_due: "2", rows_spared_by_hold: "1",
      sample_keys: [january, june],
    });
    expect(clients.cutoff.toISOString()).toBe("1990-07-03T00:00:00.000Z");
    expect(clients.oldest_due.toISOString()).toBe("1990-01-10T00:00:00.000Z");
    expect(clients.newest_due.toISOString()).toBe("1990-06-01T00:00:00.000Z");
    // Their sessions and transcriptions are past their period too, the held client's spared the same way.
    const { rows: children } = await client.query(
      "select policy_name, rows_due, rows_spared_by_hold from app_public.retention_preview(null, $1) where policy_name in ('soft_deleted_sessions', 'soft_deleted_transcriptions') order by 1",
      ["1990-10-01T00:00:00Z"]);
    expect(children).toEqual([
      { policy_name: "soft_deleted_sessions", rows_due: "2", rows_spared_by_hold: "1" },
      { policy_name: "soft_deleted_transcriptions", rows_due: "2", rows_spared_by_hold: "1" },
    ]);
    // A hold on the whole coach profile spares every one of them.
    await becomeRoot(client);
    await client.query("insert into app_public.legal_holds (coach_profile_id, reason) values ($1, 'Dispute with the coach')", [coach.profileId]);
    await becomeUser(client, auditor);
    const { rows: [all] } = await client.query(preview, ["soft_deleted_clients", "1991-06-01T00:00:00Z"]);
    expect(all).toMatchObject({ rows_due: "0", rows_spared_by_hold: "4", sample_keys: [], oldest_due: null });
  }));

test("usage events are kept forever: never due, whatever the instant", () =>
  withRootDb(async (client) => {
    await createCoach(client);
    const { rows: [usage] } = await client.query(preview, ["usage_events", "2999-01-01T00:00:00Z"]);
    expect(usage).toMatchObject({ action: "keep_forever", period: null, cutoff: null, rows_due: "0", rows_spared_by_hold: "0" });
    const { rows: [compliance] } = await client.query(
      "select rows_under_policy, rows_within_period, rows_past_period from app_public.retention_compliance('2999-01-01') where policy_name = 'usage_events'");
    expect(compliance.rows_under_policy).toBe(compliance.rows_within_period);
    expect(compliance.rows_past_period).toBe("0");
  }));

test("compliance: the share of rows under a policy within their period, held rows counted apart; an unknown policy is refused", () =>
  withRootDb(async (client) => {
    const coach = await createCoach(client);
    const admin = await createUser(client, "admin");
    const held = await plantDeletedClient(client, coach, "1990-02-01T00:00:00Z", "held");
    await plantDeletedClient(client, coach, "1990-01-10T00:00:00Z", "due");
    await plantDeletedClient(client, coach, "1990-05-01T00:00:00Z", "recent");
    await holdClient(client, held);
    await becomeUser(client, admin);
    // As of 1990-06-01 (cutoff 1990-03-03), of the rows deleted by then: one past, one held, one within.
    const { rows: [clients] } = await client.query(
      `select rows_under_policy, rows_within_period, rows_past_period, rows_held, compliance_percent::text
       from app_public.retention_compliance('1990-06-01') where policy_name = 'soft_deleted_clients'`);
    const { rows: [others] } = await client.query(
      "select count(*)::text as n from app_public.clients where deleted_at is not null and id not in (select id from app_public.clients where full_name like 'Client %' and coach_profile_id = $1)",
      [coach.profileId]);
    expect(clients).toMatchObject({ rows_past_period: "1", rows_held: "1" });
    expect(Number(clients.rows_under_policy)).toBe(3 + Number(others.n));
    expect(Number(clients.rows_within_period)).toBe(1 + Number(others.n));
    const within = Number(clients.rows_within_period);
    expect(clients.compliance_percent).toBe((Math.round((1000 * within) / (within + 1)) / 10).toFixed(1));
    expect(await errorOf(client, preview, ["no_such_policy", null])).toMatchObject({ code: "P0002", message: 'There is no retention policy "no_such_policy".' });
  }));
