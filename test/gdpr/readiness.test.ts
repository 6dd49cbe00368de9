import type pg from "pg";
import { runCli } from "../support/cli.ts";
import { becomeRoot, becomeUser, closeRootPool, errorOf, rootPool, withRootDb } from "../support/db.ts";
import { testEnvironment } from "../support/environment.ts";
import { createCoach, createUser, deleteCoach, type Coach, type User } from "../support/fixtures.ts";
import { graphql, login, type GraphQLResponse } from "../support/http.ts";

// The readiness report: its parts and percentage at a pinned instant, as
// admins and auditors read it in SQL, over GraphQL and from the CLI; coaches
// are refused. Requests are filed in 2020 (the deadlines reason about a
// pinned asOf then), so requests of other tests, all later, stay out of it.

const AS_OF = "2020-03-05T12:00:00.000Z";

/** A request received at `receivedAt`, moved to `state` as an admin would; closedAt pinned for a closed one. */
async function file(client: pg.ClientBase, clientId: string, receivedAt: string, state = "received", closedAt?: string): Promise<string> {
  const { rows } = await client.query(
    "insert into app_public.data_subject_requests (kind, client_id, received_at) values ('access', $1, $2) returning id",
    [clientId, receivedAt],
  );
  const id: string = rows[0].id;
  const steps = state === "completed" ? ["verified", "in_progress", "completed"] : state === "rejected" ? ["rejected"] : [];
  for (const step of steps) {
    await client.query(
      "update app_public.data_subject_requests set state = $2, verification = coalesce(verification, $3), rejection_reason = $4 where id = $1",
      [id, step, step === "verified" ? "Photo ID checked" : null, step === "rejected" ? "Not the person" : null],
    );
  }
  if (closedAt) {
    // The clock closed it now; it is moved to the pinned instant with no trigger running (as the deleted-items tests move a deletion).
    await client.query("set local session_replication_role = replica");
    await client.query("update app_public.data_subject_requests set closed_at = $2, state_changed_at = $2 where id = $1", [id, closedAt]);
    await client.query("set local session_replication_role = origin");
  }
  return id;
}

interface PartRow {
  part: string;
  value: string | null;
  target: string;
  scored: boolean;
  ok: boolean | null;
}

async function parts(client: pg.ClientBase, asOf = AS_OF): Promise<PartRow[]> {
  return (await client.query("select part, value::text, target, scored, ok from app_public.gdpr_readiness_parts($1)", [asOf])).rows;
}

async function summary(client: pg.ClientBase, asOf = AS_OF) {
  return (await client.query("select readiness_percent::text, parts_scored, parts_ready from app_public.gdpr_readiness($1)", [asOf])).rows[0];
}

/**
 * The parts that state now, whatever asOf (consent, restriction), or that no
 * completed erasure can miss (its residue): read from their own functions in
 * the same transaction, since other tests' committed rows count too.
 */
async function stateParts(client: pg.ClientBase, asOf = AS_OF): Promise<PartRow[]> {
  const { rows: [counts] } = await client.query(
    `select app_private.transcriptions_without_consent_count()::text as consent, app_private.restricted_subjects_count()::text as restricted,
       (select case when sum(rows_under_policy - rows_held) = 0 then 100.0
          else round(100.0 * sum(rows_within_period) / sum(rows_under_policy - rows_held), 1) end
        from app_public.retention_compliance($1))::text as retention`, [asOf]);
  return [
    { part: "erasures_with_residue", value: "0", target: "0", scored: true, ok: true },
    { part: "transcriptions_without_consent", value: counts.consent, target: "0", scored: true, ok: counts.consent === "0" },
    { part: "subjects_under_restriction", value: counts.restricted, target: "informational", scored: false, ok: null },
    { part: "retention_compliance", value: counts.retention, target: "100", scored: true, ok: counts.retention === "100.0" },
  ];
}

/** The summary of six scored parts of which `ready` meet their target. */
function summaryOf(ready: number) {
  return { readiness_percent: ((100 * ready) / 6).toFixed(1), parts_scored: 6, parts_ready: ready };
}

/** How many of the parts that count the data as it stands (consent, retention) are ready: other tests' rows count too. */
async function consentReady(client: pg.ClientBase): Promise<number> {
  return (await stateParts(client)).filter((part) => part.scored && part.part !== "erasures_with_residue" && part.ok).length;
}

afterAll(closeRootPool);

test("with nothing overdue, every column classified and every erasure clean, those parts are ready; consent and restriction are counted as they stand", () =>
  withRootDb(async (client) => {
    // One snapshot for every read: other files commit rows the retention figure counts.
    await client.query("set transaction isolation level repeatable read");
    const auditor = await createUser(client, "auditor");
    await becomeUser(client, auditor);
    expect(await parts(client)).toEqual([
      { part: "unclassified_personal_columns", value: "0", target: "0", scored: true, ok: true },
      { part: "requests_overdue", value: "0", target: "0", scored: true, ok: true },
      { part: "requests_due_within_7_days", value: "0", target: "informational", scored: false, ok: null },
      { part: "median_days_to_complete", value: null, target: "≤ 30", scored: true, ok: true },
      ...(await stateParts(client)),
    ]);
    expect(await summary(client)).toEqual(summaryOf(4 + (await consentReady(client))));
  }));

test("requests overdue, due within 7 days and the median days to complete are judged at the pinned asOf, the same for admins and auditors", () =>
  withRootDb(async (client) => {
    const coach = await createCoach(client);
    const admin = await createUser(client, "admin");
    const auditor = await createUser(client, "auditor");
    await becomeUser(client, admin);
    await client.query("set local timezone = 'UTC'");
    await file(client, coach.clientId, "2020-01-10T09:00:00Z"); // due 2020-02-10: overdue
    await file(client, coach.clientId, "2020-02-08T09:00:00Z"); // due 2020-03-08: within 7 days
    await file(client, coach.clientId, "2020-02-20T09:00:00Z"); // due 2020-03-20: neither
    await becomeRoot(client);
    await file(client, coach.clientId, "2020-01-01T00:00:00Z", "completed", "2020-01-11T00:00:00Z"); // 10 days
    await file(client, coach.clientId, "2020-01-05T00:00:00Z", "completed", "2020-01-25T00:00:00Z"); // 20 days
    await file(client, coach.clientId, "2020-01-02T00:00:00Z", "completed", "2020-02-11T00:00:00Z"); // 40 days
    await file(client, coach.clientId, "2020-01-03T00:00:00Z", "rejected", "2020-01-04T00:00:00Z"); // not completed: not in the median
    for (const reader of [admin, auditor]) {
      await becomeUser(client, reader);
      const byName = Object.fromEntries((await parts(client)).map((row) => [row.part, row]));
      expect(byName.requests_overdue).toMatchObject({ value: "1", ok: false });
      expect(byName.requests_due_within_7_days).toMatchObject({ value: "1", ok: null });
      expect(byName.median_days_to_complete).toMatchObject({ value: "20.0", ok: true });
      expect(await summary(client)).toEqual(summaryOf(3 + (await consentReady(client))));
      // The lists the parts count are the request lists' own, at the same instant.
      const lists = (await client.query("select (select count(*) from app_public.overdue_data_subject_requests($1))::int as overdue, (select count(*) from app_public.due_soon_data_subject_requests($1))::int as soon", [AS_OF])).rows[0];
      expect(lists).toEqual({ overdue: 1, soon: 1 });
    }
    // A month later the second is overdue too, and the completions are still in the year before.
    const later = Object.fromEntries((await parts(client, "2020-04-05T12:00:00Z")).map((row) => [row.part, row.value]));
    expect(later).toMatchObject({ requests_overdue: "3", requests_due_within_7_days: "0", median_days_to_complete: "20.0" });
    // A median over 30 days misses its target.
    await becomeRoot(client);
    await file(client, coach.clientId, "2020-01-06T00:00:00Z", "completed", "2020-02-20T00:00:00Z"); // 45 days
    await file(client, coach.clientId, "2020-01-07T00:00:00Z", "completed", "2020-02-21T00:00:00Z"); // 45 days
    await becomeUser(client, auditor);
    expect((await parts(client)).find((row) => row.part === "median_days_to_complete")).toMatchObject({ value: "40.0", ok: false });
  }));

test("an unclassified free-text column counts against readiness until it is classified", () =>
  withRootDb(async (client) => {
    const admin = await createUser(client, "admin");
    await client.query("create table app_public.gdpr_readiness_probe (id uuid primary key default gen_random_uuid(), remark text)");
    await becomeUser(client, admin);
    expect((await parts(client))[0]).toMatchObject({ part: "unclassified_personal_columns", value: "1", ok: false });
    expect(await summary(client)).toEqual(summaryOf(3 + (await consentReady(client))));
    await becomeRoot(client);
    await client.query("select governance.classify_column('app_public.gdpr_readiness_probe', 'remark', 'content', 'client', 'A probe.', 'contract')");
    await becomeUser(client, admin);
    expect((await parts(client))[0]).toMatchObject({ value: "0", ok: true });
  }));

test("a coach may not read the readiness report", () =>
  withRootDb(async (client) => {
    const coach = await createCoach(client);
    await becomeUser(client, coach.user);
    for (const sql of ["select * from app_public.gdpr_readiness()", "select * from app_public.gdpr_readiness_parts()"]) {
      expect(await errorOf(client, sql)).toMatchObject({ code: "42501", message: expect.stringMatching(/permission denied for function gdpr_readiness/) });
    }
  }));

describe("through the doors", () => {
  // Committed, in 2020 too, and removed afterwards: one request overdue at GRAPHQL_AS_OF.
  const GRAPHQL_AS_OF = "2020-07-03T00:00:00.000Z";
  let coach: Coach;
  let admin: User;
  let auditor: User;
  let requestId: string;

  beforeAll(async () => {
    const pool = rootPool();
    coach = await createCoach(pool, "readiness-coach");
    admin = await createUser(pool, "admin", "readiness-admin");
    auditor = await createUser(pool, "auditor", "readiness-auditor");
    const { rows } = await pool.query(
      "insert into app_public.data_subject_requests (kind, client_id, received_at) values ('erasure', $1, '2020-06-01T10:00:00Z') returning id",
      [coach.clientId],
    );
    requestId = rows[0].id;
  });

  afterAll(async () => {
    const pool = rootPool();
    await pool.query("delete from app_public.data_subject_requests where id = $1", [requestId]);
    if (coach) await deleteCoach(pool, coach);
    for (const user of [admin, auditor]) if (user) await pool.query("delete from app_public.users where id = $1", [user.id]);
  });

  const query = `query ($asOf: Datetime) {
    gdprReadiness(asOf: $asOf) { readinessPercent partsScored partsReady }
    gdprReadinessParts(asOf: $asOf) { nodes { ordinal part label value unit target scored ok } }
  }`;

  test("GraphQL gives admins and auditors what the SQL functions give them; a coach is refused", async () => {
    for (const reader of [admin, auditor]) {
      const token = await login(reader.email);
      const read = () => withRootDb(async (client) => {
        await becomeUser(client, reader);
        return {
          summary: await summary(client, GRAPHQL_AS_OF),
          parts: (await client.query("select ordinal, part, label, value::text, unit, target, scored, ok from app_public.gdpr_readiness_parts($1)", [GRAPHQL_AS_OF])).rows,
        };
      });
      // Other files commit rows the retention figure counts: GraphQL is compared
      // with SQL read before and after it, once the two SQL reads agree.
      let body: GraphQLResponse["body"];
      let sql: Awaited<ReturnType<typeof read>>;
      for (let attempt = 1; ; attempt++) {
        sql = await read();
        body = (await graphql(query, { asOf: GRAPHQL_AS_OF }, token)).body;
        if (JSON.stringify(await read()) === JSON.stringify(sql) || attempt === 5) break;
      }
      expect(body.errors).toBeUndefined();
      expect(body.data!.gdprReadiness).toEqual({
        readinessPercent: sql.summary.readiness_percent,
        partsScored: sql.summary.parts_scored,
        partsReady: sql.summary.parts_ready,
      });
      expect(body.data!.gdprReadinessParts.nodes).toEqual(
        sql.parts.map((row: Record<string, unknown>) => ({ ...row })),
      );
      expect(body.data!.gdprReadinessParts.nodes[1]).toMatchObject({ part: "requests_overdue", value: "1", ok: false });
    }
    const refused = await graphql(query, { asOf: GRAPHQL_AS_OF }, await login(coach.user.email));
    expect(refused.body.errors?.[0]?.message).toBe("A coach may not use gdprReadiness.");
  });

  test("custodian gdpr report prints the percentage and every part at --as-of, and refuses an instant it cannot read", async () => {
    const result = await runCli(["gdpr", "report", "--as-of", GRAPHQL_AS_OF], testEnvironment());
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    const lines = result.stdout.split("\n");
    const sql = await withRootDb((client) => summary(client, GRAPHQL_AS_OF));
    expect(lines[0]).toBe(`GDPR audit readiness: ${sql.readiness_percent}% as of ${GRAPHQL_AS_OF}`);
    expect(lines[1]).toBe(`(${sql.parts_ready} of 6 scored parts meet their target)`);
    expect(lines.find((line) => line.includes("Requests overdue"))).toMatch(/Requests overdue\s+1 request\s+0\s+NOT READY$/);
    expect(lines.find((line) => line.includes("Unclassified personal columns"))).toMatch(/0 columns\s+0\s+ready$/);
    expect(lines.find((line) => line.includes("Requests due within 7 days"))).toMatch(/0 requests\s+informational\s+for information$/);
    expect(lines.find((line) => line.includes("Erasures whose residue"))).toMatch(/0 erasures\s+0\s+ready$/);
    expect(lines.find((line) => line.includes("Subjects under restriction"))).toMatch(/\d+ subjects?\s+informational\s+for information$/);

    const bad = await runCli(["gdpr", "report", "--as-of", "soon"], testEnvironment());
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/--as-of takes an instant such as 2026-12-01T00:00:00Z or a day such as 2026-12-01 \(got "soon"\)/);
  });
});
