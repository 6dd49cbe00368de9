import fs from "node:fs";
import path from "node:path";
import { parseStrictCsv } from "../support/csv.ts";
import { becomeUser, closeRootPool, errorOf, rootPool, withRootDb, type Actor } from "../support/db.ts";
import { runCli } from "../support/cli.ts";
import { testEnvironment } from "../support/environment.ts";
import { createAttempt, createCoach, createProviderRate, createUser, deleteCoach, type Coach, type User } from "../support/fixtures.ts";
import { apiUrl, login } from "../support/http.ts";

// GET /api/v1/exports/... and `custodian export ...`: each export's rows are
// what its SQL function returns for the range, as the caller's role. Usage
// events are permanent and every test file writes some, so the workload lives
// in a year no other usage occupies, its attempts finished at pinned instants
// and rated as the worker would.

const candidateYears = [1903, 1914, 1925, 1931, 1942, 1953, 1959, 1970, 1981, 1987];
let year: number;
const day = (monthDay: string) => `${year}-${monthDay}`;

let a: Coach;
let b: Coach;
let admin: User;
let auditor: User;
let tokens: { a: string; b: string; admin: string; auditor: string };
const startedAt = new Date(Date.now() - 60_000).toISOString();

type Row = Record<string, unknown>;

beforeAll(async () => {
  const root = rootPool();
  const { rows } = await root.query(
    `select y from unnest($1::int[]) y
     where not exists (select from app_public.usage_events e
                       where e.occurred_at >= make_date(y, 1, 1)::timestamp at time zone 'UTC'
                         and e.occurred_at < make_date(y + 1, 1, 1)::timestamp at time zone 'UTC')
     order by y limit 1`, [candidateYears]);
  year = rows[0].y;
  a = await createCoach(root, "exports-a");
  b = await createCoach(root, "exports-b");
  admin = await createUser(root, "admin", "exports-admin");
  auditor = await createUser(root, "auditor", "exports-auditor");
  const [ta, tb, tadmin, tauditor] = await Promise.all([a.user, b.user, admin, auditor].map((user) => login(user.email)));
  tokens = { a: ta!, b: tb!, admin: tadmin!, auditor: tauditor! };
  const rate = await createProviderRate(root, "6");
  const attempts: Array<[Coach, "completed" | "failed", number, string]> = [
    [a, "failed", 30, "03-02T08:00:00Z"], [a, "completed", 90, "03-02T09:00:00.123456Z"], [a, "completed", 45, "03-09T09:00:00Z"],
    [b, "completed", 75, "03-03T10:00:00Z"], [b, "failed", 20, "03-03T11:00:00Z"], [b, "completed", 600, "04-12T12:00:00Z"],
  ];
  for (const [coach, status, seconds, at] of attempts) {
    await createAttempt(root, coach, { status, seconds, finishedAt: day(at), ...rate });
  }
  await root.query("select app_private.rate_usage_records(null)");
  for (const each of ["03-02", "03-03", "03-09", "04-12"]) await root.query("select app_private.rebuild_usage_day($1)", [day(each)]);
});

afterAll(async () => {
  const root = rootPool();
  for (const coach of [a, b]) if (coach) await deleteCoach(root, coach);
  await root.query("delete from app_public.users where id = any($1)", [[admin?.id, auditor?.id].filter(Boolean)]);
  await closeRootPool();
});

/** GETs an export, as `token` when given. */
function get(name: string, parameters: Record<string, string>, token?: string): Promise<Response> {
  return fetch(apiUrl(`/api/v1/exports/${name}?${new URLSearchParams(parameters)}`), {
    headers: token ? { authorization: `Bearer ${token}` } : {},
  });
}

async function getText(name: string, parameters: Record<string, string>, token: string): Promise<{ text: string; filename: string }> {
  const response = await get(name, parameters, token);
  const text = await response.text();
  if (response.status !== 200) throw new Error(`${response.status}: ${text}`);
  return { text, filename: /filename="([^"]+)"/.exec(response.headers.get("content-disposition") ?? "")![1]! };
}

const jsonLines = (text: string): Row[] => (text === "" ? [] : text.replace(/\n$/, "").split("\n").map((line) => JSON.parse(line)));

const camelCase = (name: string) => name.replace(/_([a-z0-9])/g, (_, letter: string) => letter.toUpperCase());
/** Numbers compare by value (bigint and numeric come as strings, in full), everything else as it is. */
const normal = (value: unknown) => (typeof value === "string" && /^-?\d+(\.\d+)?$/.test(value) ? Number(value) : value);
const normalRow = (row: Row) => Object.fromEntries(Object.entries(row).map(([key, value]) => [key, normal(value)]));

/** What a SQL query returns as `actor` (row_to_json: times in ISO 8601 as the export gives them), keys in camelCase. */
function sqlRows(actor: Actor, sql: string, params: unknown[]): Promise<Row[]> {
  return withRootDb(async (client) => {
    await client.query("set local timezone = 'UTC'");
    await becomeUser(client, actor);
    const { rows } = await client.query(`select row_to_json(r)::text as row from (${sql}) r`, params);
    return rows.map((row) => Object.fromEntries(Object.entries(JSON.parse(row.row) as Row).map(([key, value]) => [camelCase(key), value])));
  });
}

/** A CSV export's rows in the shape of JSON Lines rows: empty is null, JSON columns parsed, the rest text. */
function csvAsJson(text: string, like: Row[]): Row[] {
  const [header, ...records] = parseStrictCsv(text);
  return records.map((record, i) =>
    Object.fromEntries(header!.map((name, column) => {
      const cell = record[column]!;
      const json = like[i]?.[name];
      return [name, cell === "" ? null : json !== null && typeof json === "object" ? JSON.parse(cell) : cell];
    })));
}
const jsonAsText = (rows: Row[]) =>
  rows.map((row) => Object.fromEntries(Object.entries(row).map(([key, value]) => [key, typeof value === "boolean" || typeof value === "number" ? String(value) : value])));

/** Each export with a range of the workload, and the SQL function call that returns its rows for that range. */
function exportsAndFunctions(): Array<{ name: string; parameters: Record<string, string>; sql: string; params: unknown[][] }> {
  const days = { from: day("03-01"), to: day("05-01") };
  return [
    { name: "usage-events", parameters: days, sql: "select * from app_public.usage_in_range($1, $2)", params: [[days.from, days.to]] },
    // Month by month, as invoice_preview gives each month.
    { name: "invoices", parameters: days, sql: "select * from app_public.invoice_preview(null, $1)", params: [[day("03-01")], [day("04-01")]] },
    { name: "analytics/usage", parameters: { ...days, granularity: "week" }, sql: "select * from app_public.usage_over_time($1, $2, 'week')", params: [[days.from, days.to]] },
    { name: "analytics/providers", parameters: days, sql: "select * from app_public.usage_by_provider($1, $2)", params: [[days.from, days.to]] },
    { name: "analytics/revenue", parameters: days, sql: "select * from app_public.revenue_summary($1, $2)", params: [[days.from, days.to]] },
    { name: "analytics/monthly-revenue", parameters: days, sql: "select * from app_public.monthly_revenue($1, $2)", params: [[days.from, days.to]] },
    { name: "analytics/retranscriptions", parameters: days, sql: "select * from app_public.retranscription_stats($1, $2)", params: [[days.from, days.to]] },
    { name: "analytics/failures", parameters: days, sql: "select * from app_public.failure_stats($1, $2)", params: [[days.from, days.to]] },
    { name: "analytics/top-coaches", parameters: days, sql: "select * from app_public.top_coaches($1, $2)", params: [[days.from, days.to]] },
    {
      name: "audit-events",
      parameters: { occurred_from: startedAt, occurred_before: new Date(Date.now() + 3_600_000).toISOString(), table_name: "coach_profiles", record_key: a.profileId },
      sql: `select id, occurred_at, table_schema, table_name, record_key, operation, old_values, new_values, changed_columns, transaction_id,
              actor_kind, actor_user_id, actor_role, request_id, client_ip, user_agent, task, job_id, database_role, session_user_name,
              application_name, client_addr, details
            from app_public.audit_events('coach_profiles', to_jsonb($1::text), null, null, null, $2, $3)`,
      params: [[a.profileId, startedAt, new Date(Date.now() + 3_600_000).toISOString()]],
    },
  ];
}

describe("GET /api/v1/exports/...", () => {
  test("each export's rows are what its SQL function returns for the range, in JSON Lines (the default) and in CSV, with the range in the file's name", async () => {
    const staff = { id: admin.id, role: "admin" } as const;
    for (const { name, parameters, sql, params } of exportsAndFunctions()) {
      const expected: Row[] = [];
      for (const each of params) expected.push(...(await sqlRows(staff, sql, each)));
      const lines = await getText(name, parameters, tokens.admin);
      const [start, end] = Object.values(parameters).map((value) => value.replace(/[^0-9A-Za-z.-]+/g, "-"));
      expect({ name, filename: lines.filename }).toEqual({ name, filename: `${name.replace("/", "-")}_${start}_${end}.jsonl` });
      const rows = jsonLines(lines.text);
      expect({ name, rows: rows.map(normalRow) }).toEqual({ name, rows: expected.map(normalRow) });
      const csv = await getText(name, { ...parameters, format: "csv" }, tokens.admin);
      expect(csv.filename).toBe(lines.filename.replace(/\.jsonl$/, ".csv"));
      expect({ name, rows: csvAsJson(csv.text, rows) }).toEqual({ name, rows: jsonAsText(rows) });
    }
  });

  test("the workload is in the exports: six usage events, both coaches' invoices for both months, the coach's audit trail", async () => {
    const days = { from: day("03-01"), to: day("05-01") };
    const events = jsonLines((await getText("usage-events", days, tokens.admin)).text);
    expect(events.map((event) => [event.coachProfileId, event.occurredAt, event.outcome])).toEqual([
      [a.profileId, `${day("03-02")}T08:00:00+00:00`, "failed"], [a.profileId, `${day("03-02")}T09:00:00.123456+00:00`, "completed"],
      [b.profileId, `${day("03-03")}T10:00:00+00:00`, "completed"], [b.profileId, `${day("03-03")}T11:00:00+00:00`, "failed"],
      [a.profileId, `${day("03-09")}T09:00:00+00:00`, "completed"], [b.profileId, `${day("04-12")}T12:00:00+00:00`, "completed"],
    ]);
    expect(events.every((event) => typeof event.providerCostMinor === "string")).toBe(true);
    const invoices = jsonLines((await getText("invoices", days, tokens.admin)).text);
    expect(invoices.map((invoice) => [invoice.month, invoice.coachProfileId]).sort()).toEqual(
      [[day("03-01"), a.profileId], [day("03-01"), b.profileId], [day("04-01"), b.profileId]].sort());
    const trail = exportsAndFunctions().at(-1)!;
    expect(jsonLines((await getText("audit-events", trail.parameters, tokens.admin)).text).map((event) => event.operation)).toContain("INSERT");
  });

  test("a coach exports only their own rows, without the provider cost; admins and auditors every coach's, with it", async () => {
    const days = { from: day("03-01"), to: day("05-01") };
    const coachRows = jsonLines((await getText("usage-events", days, tokens.a)).text);
    expect(coachRows.map((row) => row.coachProfileId)).toEqual([a.profileId, a.profileId, a.profileId]);
    expect(coachRows.map((row) => row.providerCostMinor)).toEqual([null, null, null]);
    expect(coachRows.map(normalRow)).toEqual(
      (await sqlRows({ id: a.user.id, role: "coach" }, "select * from app_public.usage_in_range($1, $2)", [days.from, days.to])).map(normalRow));
    for (const token of [tokens.admin, tokens.auditor]) {
      const rows = jsonLines((await getText("usage-events", days, token)).text);
      expect(new Set(rows.map((row) => row.coachProfileId))).toEqual(new Set([a.profileId, b.profileId]));
      expect(rows.every((row) => row.providerCostMinor !== null)).toBe(true);
    }
    const invoices = jsonLines((await getText("invoices", days, tokens.b)).text);
    expect(invoices.map((invoice) => [invoice.month, invoice.coachProfileId])).toEqual([[day("03-01"), b.profileId], [day("04-01"), b.profileId]]);
    const revenue = jsonLines((await getText("analytics/revenue", days, tokens.a)).text);
    expect(revenue).toEqual([expect.objectContaining({ providerCostMinor: null, grossMarginMinor: null })]);
    // Naming another coach's profile is an answer, not an empty file.
    const other = await get("usage-events", { ...days, coach_profile_id: b.profileId }, tokens.a);
    expect({ status: other.status, body: await other.json() }).toEqual({ status: 404, body: { error: `There is no coach profile ${b.profileId} that you can see.` } });
    const own = jsonLines((await getText("usage-events", { ...days, coach_profile_id: b.profileId }, tokens.admin)).text);
    expect(own.map((row) => row.coachProfileId)).toEqual([b.profileId, b.profileId, b.profileId]);
  });

  test("bad input is a 400 in words, never a 500: an unknown export, a bad format, a bad or inverted range, a range's end left out", async () => {
    const days = { from: day("03-01"), to: day("05-01") };
    const cases: Array<[string, Record<string, string>, string]> = [
      ["nothing-here", days, 'There is no export "nothing-here"; the exports are usage-events, invoices, analytics/usage, analytics/providers, analytics/revenue, analytics/monthly-revenue, analytics/retranscriptions, analytics/failures, analytics/top-coaches, audit-events.'],
      ["analytics/nothing", days, expect.stringMatching(/^There is no export "analytics\/nothing"; the exports are /) as unknown as string],
      ["usage-events", { ...days, format: "xml" }, 'format must be jsonl or csv, not "xml".'],
      ["usage-events", { ...days, format: "json" }, 'format must be jsonl or csv, not "json".'],
      ["usage-events", { from: day("05-01"), to: day("03-01") }, `The range is empty or inverted: from (${day("05-01")}) must be before to (${day("03-01")}).`],
      ["usage-events", { from: "yesterday", to: day("03-01") }, '"from" must be a date like 2026-11-01, not "yesterday".'],
      ["invoices", { from: day("03-01") }, '"to" is required: a date like 2026-11-01 (the range is from inclusive, to exclusive).'],
      ["invoices", { from: day("03-02"), to: day("05-01") }, `"from" must be the first day of a month (like 2026-11-01), not "${day("03-02")}".`],
      ["audit-events", { occurred_from: "2026-11-01T00:00:00Z" }, '"occurred_before" is required: an ISO 8601 timestamp like 2026-11-25T10:00:00Z (the range\'s start inclusive, its end exclusive).'],
      ["audit-events", { occurred_from: "2026-11-02T00:00:00Z", occurred_before: "2026-11-01T00:00:00Z" },
        expect.stringMatching(/^The time range is empty: occurred_from \(.+\) must be before occurred_before \(.+\)\.$/) as unknown as string],
      ["usage-events", { ...days, coach: "x" }, 'Unknown parameter "coach"; use from, to, coach_profile_id, format.'],
    ];
    for (const [name, parameters, error] of cases) {
      const response = await get(name, parameters, tokens.admin);
      expect({ name, status: response.status, body: await response.json() }).toEqual({ name, status: 400, body: { error } });
    }
    const anonymous = await get("usage-events", days);
    expect({ status: anonymous.status, body: await anonymous.json() }).toEqual({ status: 401, body: { error: "Sign in: send 'Authorization: Bearer <token>'." } });
  });
});

describe("the SQL the exports stream from, in plain SQL as each role", () => {
  test("usage_events_export and invoices_export return what usage_in_range and invoice_preview return for the caller, and refuse a range that is missing an end or inverted", async () => {
    const actors: Actor[] = [a.user, b.user, { id: admin.id, role: "admin" }, { id: auditor.id, role: "auditor" }];
    const asText = (rows: Array<{ row: string }>) => rows.map((row) => row.row);
    for (const actor of actors) {
      await withRootDb(async (client) => {
        await becomeUser(client, actor);
        const streamed = await client.query("select row_to_json(e)::text as row from app_private.usage_events_export($1, $2) e", [day("03-01"), day("05-01")]);
        const returned = await client.query("select row_to_json(e)::text as row from app_public.usage_in_range($1, $2) e", [day("03-01"), day("05-01")]);
        expect({ role: actor.role, rows: asText(streamed.rows) }).toEqual({ role: actor.role, rows: asText(returned.rows) });
        expect(streamed.rows.length).toBe(actor.role === "coach" ? 3 : 6);
        const invoices = await client.query("select row_to_json(i)::text as row from app_private.invoices_export($1, $2) i", [day("03-01"), day("05-01")]);
        const months = await client.query(
          "select row_to_json(i)::text as row from app_public.invoice_preview(null, $1) i union all select row_to_json(i)::text from app_public.invoice_preview(null, $2) i",
          [day("03-01"), day("04-01")]);
        expect(asText(invoices.rows)).toEqual(asText(months.rows));
        for (const [from, to, message] of [
          [null, day("05-01"), "A range needs both ends: from and to (dates, to exclusive)."],
          [day("05-01"), day("03-01"), `The range is empty or inverted: from (${day("05-01")}) must be before to (${day("03-01")}).`],
        ] as const) {
          for (const sql of ["select count(*) from app_private.usage_events_export($1, $2)", "select count(*) from app_private.invoices_export($1, $2)"]) {
            expect(await errorOf(client, sql, [from, to])).toMatchObject({ code: "22023", message });
          }
        }
      });
    }
  });
});

describe("custodian export", () => {
  const dir = () => fs.mkdtempSync(path.join(process.env.TEST_TMP_DIR!, "exports-"));
  const env = () => testEnvironment({ DATA_DIR: process.env.TEST_TMP_DIR! });

  test("writes the route's rows to the file, with a progress bar: as the owner every coach's (as an admin reads them), --as an account what that account reads", async () => {
    const folder = dir();
    const days = { from: day("03-01"), to: day("05-01") };
    for (const [as, token] of [[undefined, tokens.admin], [a.user.email, tokens.a]] as const) {
      for (const format of ["jsonl", "csv"]) {
        const out = path.join(folder, `usage-${as ?? "owner"}.${format}`);
        const result = await runCli(["export", "usage-events", "--from", days.from, "--to", days.to, "--format", format, "--out", out,
          ...(as ? ["--as", as] : [])], env());
        const rows = as ? 3 : 6;
        expect({ code: result.code, stdout: result.stdout }).toEqual({ code: 0, stdout: `Wrote ${rows} rows of usage-events (${format}) to ${out}.\n` });
        expect(result.stderr).toContain(`Exporting usage-events: 100% (${rows}/${rows})`);
        expect(fs.readFileSync(out, "utf8")).toBe((await getText("usage-events", { ...days, format }, token)).text);
        expect(fs.statSync(out).mode & 0o777).toBe(0o600);
      }
    }
    const analytics = path.join(folder, "weekly.csv");
    const weekly = await runCli(["export", "analytics", "usage", "--from", days.from, "--to", days.to, "--granularity", "week",
      "--coach", b.profileId, "--format", "csv", "--out", analytics], env());
    expect(weekly.code).toBe(0);
    expect(fs.readFileSync(analytics, "utf8")).toBe(
      (await getText("analytics/usage", { ...days, granularity: "week", coach_profile_id: b.profileId, format: "csv" }, tokens.admin)).text);
    expect(fs.readdirSync(folder).sort()).toEqual(["usage-owner.csv", "usage-owner.jsonl", `usage-${a.user.email}.csv`, `usage-${a.user.email}.jsonl`, "weekly.csv"].sort());
  });

  test("bad input is one clear line and exit 1, and no file is left, not even a part", async () => {
    const folder = dir();
    const out = path.join(folder, "out.jsonl");
    const days = ["--from", day("03-01"), "--to", day("05-01")];
    const cases: Array<[string[], string]> = [
      [["export", "nothing", ...days, "--out", out], 'There is no export "nothing"; the exports are usage-events, invoices, analytics/usage, analytics/providers, analytics/revenue, analytics/monthly-revenue, analytics/retranscriptions, analytics/failures, analytics/top-coaches, audit-events.'],
      [["export", "usage-events", ...days, "--format", "xml", "--out", out], '--format must be jsonl or csv, not "xml".'],
      [["export", "usage-events", "--from", day("05-01"), "--to", day("03-01"), "--out", out], `The range is empty or inverted: --from (${day("05-01")}) must be before --to (${day("03-01")}).`],
      [["export", "usage-events", "--from", day("03-01"), "--out", out], '"--to" is required: a date like 2026-11-01 (the range is --from inclusive, --to exclusive).'],
      [["export", "usage-events", ...days, "--coach", "x", "--out", out], '"--coach" must be a UUID, not "x".'],
      [["export", "usage-events", ...days, "--coach", b.profileId, "--as", a.user.email, "--out", out], `There is no coach profile ${b.profileId} that you can see.`],
      [["export", "audit-events", ...days, "--granularity", "day", "--out", out], "The audit-events export takes no --granularity."],
      [["export", "usage-events", ...days, "--as", "nobody@test.example", "--out", out], "No enabled account has the email nobody@test.example."],
      [["export", "usage-events", ...days, "--out", path.join(folder, "missing", "out.jsonl")], `--out: the folder ${path.join(folder, "missing")} does not exist.`],
    ];
    for (const [args, message] of cases) {
      const result = await runCli(args, env());
      expect({ args, code: result.code, stderr: result.stderr }).toEqual({ args, code: 1, stderr: `custodian: ${message}\n` });
    }
    expect(fs.readdirSync(folder)).toEqual([]);
  });
});
