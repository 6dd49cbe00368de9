import crypto from "node:crypto";
import { parseStrictCsv } from "../support/csv.ts";
import { closeRootPool, rootPool } from "../support/db.ts";
import { createCoach, createUser, deleteCoach, type Coach, type User } from "../support/fixtures.ts";
import { apiUrl, graphql, login } from "../support/http.ts";

// Usage over REST: GET /api/v1/usage (a caller's usage events) and
// GET /api/v1/admin/analytics/{usage,revenue,retranscriptions,top-coaches},
// as JSON (one array) or CSV. Usage events are permanent and every test file
// writes some, so the workload lives in a year no other usage occupies (March 1
// a Tuesday, not a leap year: the weeks below start on February 28 and March 7),
// written as root with finish times in that year and rolled up as the worker would.
//
// The plan: a fee of 500, 1 included minute, 12 per extra minute. The provider
// charges us 6 per minute.
//
// Coach A, one session:
//   a1  failed          Wed 03-02 08:00  30 s  free, cost 3
//   a2  completed retry Wed 03-02 09:00  90 s  first success: 60 s included, 30 s charged = 6, cost 9
//   a3  completed       Wed 03-09 09:00  45 s  re-transcription: 45 s charged = 9, cost 4.5
// Coach B, one session:
//   b1  completed       Thu 03-03 10:00  75 s  first success: 60 s included, 15 s charged = 3, cost 7.5
// A third coach fails 1100 times in June, for an export longer than one fetch.

/** Years whose March 1 is a Tuesday, without a February 29; the workload takes the first that holds no usage yet. */
const candidateYears = [1910, 1921, 1927, 1938, 1949, 1955, 1966, 1977, 1983, 1994];
const suffix = crypto.randomBytes(4).toString("hex");
const provider = `rest-${suffix}`;
const planName = `REST usage plan ${suffix}`;

let year: number;
/** A date of the workload's year, from "MM-DD". */
const day = (monthDay: string) => `${year}-${monthDay}`;
/** The whole workload: March. */
const march = () => ({ from: day("03-01"), to: day("04-01") });

let a: Coach;
let b: Coach;
/** A coach with more failed attempts in June than the export fetches at once (500). */
let bulk: Coach;
let admin: User;
let auditor: User;
let planId: string;
let rateId: string;
let sessionA: string;
let sessionB: string;
let tokens: { a: string; b: string; admin: string; auditor: string; bulk: string };
/** Usage event ids (as text) and transcription ids of the workload, by name. */
const events: Record<string, string> = {};
const attempts: Record<string, string> = {};

async function freeYear(): Promise<number> {
  const { rows } = await rootPool().query(
    `select y from unnest($1::int[]) y
     where not exists (select from app_public.usage_events e
                       where e.occurred_at >= make_date(y, 1, 1)::timestamp at time zone 'UTC'
                         and e.occurred_at < make_date(y + 1, 1, 1)::timestamp at time zone 'UTC')
     order by y limit 1`,
    [candidateYears],
  );
  if (!rows[0]) throw new Error("every candidate year already holds usage");
  return rows[0].y;
}

async function addSession(coach: Coach, seconds: number): Promise<string> {
  const { rows } = await rootPool().query(
    `insert into app_public.coaching_sessions (client_id, title, recorded_at, audio_object_key, audio_duration_seconds)
     values ($1, 'REST usage', $2, 'recordings/rest.m4a', $3) returning id`,
    [coach.clientId, `${day("03-01")}T08:00:00Z`, seconds],
  );
  return rows[0].id;
}

async function addAttempt(
  name: string,
  session: string,
  attempt: { status: "completed" | "failed"; at: string; seconds: number; language?: string; retryOf?: string },
): Promise<void> {
  const { rows } = await rootPool().query(
    `insert into app_public.transcriptions (session_id, provider, model, language, status, billed_duration_seconds, retry_of, started_at, finished_at)
     values ($1, $2, 'r1', $3, $4, $5, $6, $7, $7) returning id`,
    [session, provider, attempt.language ?? null, attempt.status, attempt.seconds,
     attempt.retryOf ? attempts[attempt.retryOf] : null, `${day(attempt.at)}:00Z`],
  );
  attempts[name] = rows[0].id;
  await rootPool().query("select app_private.rate_usage_records(null)");
  const event = await rootPool().query("select id::text from app_public.usage_events where transcription_id = $1 and kind = 'attempt'", [rows[0].id]);
  events[name] = event.rows[0].id;
}

beforeAll(async () => {
  const root = rootPool();
  year = await freeYear();
  planId = (await root.query(
    `insert into app_public.billing_plans (name, monthly_fee_minor, included_minutes, price_per_extra_minute_minor)
     values ($1, 500, 1, 12) returning id`, [planName])).rows[0].id;
  rateId = (await root.query(
    "insert into app_public.provider_rates (provider, model, cost_per_minute_minor) values ($1, 'r1', 6) returning id", [provider])).rows[0].id;
  a = await createCoach(root, "usage-rest-a");
  b = await createCoach(root, "usage-rest-b");
  bulk = await createCoach(root, "usage-rest-bulk");
  admin = await createUser(root, "admin", "usage-rest-admin");
  auditor = await createUser(root, "auditor", "usage-rest-auditor");
  const [ta, tb, tadmin, tauditor, tbulk] = await Promise.all([a.user, b.user, admin, auditor, bulk.user].map((user) => login(user.email)));
  tokens = { a: ta!, b: tb!, admin: tadmin!, auditor: tauditor!, bulk: tbulk! };
  await root.query("update app_public.coach_profiles set plan_id = $1 where id = any($2)", [planId, [a.profileId, b.profileId, bulk.profileId]]);

  sessionA = await addSession(a, 90);
  sessionB = await addSession(b, 75);
  await addAttempt("a1", sessionA, { status: "failed", at: "03-02T08:00", seconds: 30 });
  await addAttempt("a2", sessionA, { status: "completed", at: "03-02T09:00", seconds: 90, language: "en", retryOf: "a1" });
  await addAttempt("b1", sessionB, { status: "completed", at: "03-03T10:00", seconds: 75 });
  await addAttempt("a3", sessionA, { status: "completed", at: "03-09T09:00", seconds: 45 });
  // 1100 failed attempts of the bulk coach, one a minute from June 10, in one statement.
  await root.query(
    `insert into app_public.transcriptions (session_id, provider, model, status, billed_duration_seconds, started_at, finished_at)
     select $1, $2, 'r1', 'failed', 10, at, at from (select $3::timestamptz + n * interval '1 minute' as at from generate_series(1, 1100) n) times`,
    [await addSession(bulk, 10), provider, `${day("06-10")}T00:00:00Z`],
  );
  for (const each of ["03-02", "03-03", "03-09"]) await root.query("select app_private.rebuild_usage_day($1)", [day(each)]);
});

afterAll(async () => {
  const root = rootPool();
  for (const coach of [a, b, bulk]) if (coach) await deleteCoach(root, coach);
  await root.query("delete from app_public.users where id = any($1)", [[admin?.id, auditor?.id].filter(Boolean)]);
  await root.query("delete from app_public.provider_rates where id = $1", [rateId]);
  await root.query("delete from app_public.billing_plans where id = $1", [planId]);
  await closeRootPool();
});

/** GETs a path with these query parameters (or a raw query string), as `token` when given. */
function get(path: string, parameters: Record<string, string> | string, token?: string): Promise<Response> {
  const query = typeof parameters === "string" ? parameters : new URLSearchParams(parameters).toString();
  return fetch(apiUrl(`${path}?${query}`), { headers: token ? { authorization: `Bearer ${token}` } : {} });
}

/** The JSON array a 200 answer holds. */
async function getJson(path: string, parameters: Record<string, string>, token: string): Promise<Array<Record<string, unknown>>> {
  const response = await get(path, { ...parameters, format: "json" }, token);
  const text = await response.text();
  if (response.status !== 200) throw new Error(`${response.status}: ${text}`);
  return JSON.parse(text);
}

/** A 200 CSV answer as its header and rows. */
async function getCsv(path: string, parameters: Record<string, string>, token: string): Promise<{ header: string[]; rows: string[][] }> {
  const response = await get(path, { ...parameters, format: "csv" }, token);
  const text = await response.text();
  if (response.status !== 200) throw new Error(`${response.status}: ${text}`);
  const [header, ...rows] = parseStrictCsv(text);
  for (const row of rows) expect(row).toHaveLength(header!.length);
  return { header: header!, rows };
}

/** What a JSON row says, as CSV text: null is empty, booleans are true and false. */
const asCsv = (row: Record<string, unknown>) =>
  Object.values(row).map((value) => (value === null ? "" : String(value)));

const anonymousError = { error: "Sign in: send 'Authorization: Bearer <token>'." };

describe("GET /api/v1/usage", () => {
  const columns = [
    "id", "kind", "occurredAt", "recordedAt", "coachProfileId", "sessionId", "transcriptionId", "isRetry", "isRetranscription",
    "provider", "model", "language", "audioSeconds", "outcome", "billable", "billingReason", "includedSeconds", "chargedSeconds",
    "unitPriceMinor", "amountMinor", "providerCostMinor", "planId", "usageMonth", "billingMonth", "ruleVersion", "correctsEventId",
    "note", "createdBy",
  ];
  const event = (name: string, coach: Coach, session: string, at: string, figures: Record<string, unknown>) => ({
    id: events[name], kind: "attempt", occurredAt: `${day(at)}:00+00:00`, recordedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?\+00:00$/),
    coachProfileId: coach.profileId, sessionId: session, transcriptionId: attempts[name], isRetry: false, isRetranscription: false,
    provider, model: "r1", language: null, includedSeconds: 0, chargedSeconds: 0, unitPriceMinor: "12", amountMinor: "0", planId,
    usageMonth: day("03-01"), billingMonth: day("03-01"), ruleVersion: "billing-rules-2026-11-v1", correctsEventId: null, note: null, createdBy: null,
    ...figures,
  });
  const eventsOfA = () => [
    event("a1", a, sessionA, "03-02T08:00", { audioSeconds: 30, outcome: "failed", billable: false, billingReason: "failed_free", providerCostMinor: "3.000000" }),
    event("a2", a, sessionA, "03-02T09:00", {
      isRetry: true, language: "en", audioSeconds: 90, outcome: "completed", billable: true, billingReason: "first_success",
      includedSeconds: 60, chargedSeconds: 30, amountMinor: "6", providerCostMinor: "9.000000",
    }),
    event("a3", a, sessionA, "03-09T09:00", {
      isRetranscription: true, audioSeconds: 45, outcome: "completed", billable: true, billingReason: "retranscription",
      chargedSeconds: 45, amountMinor: "9", providerCostMinor: "4.500000",
    }),
  ];
  const eventsOfB = () => [
    event("b1", b, sessionB, "03-03T10:00", {
      audioSeconds: 75, outcome: "completed", billable: true, billingReason: "first_success",
      includedSeconds: 60, chargedSeconds: 15, amountMinor: "3", providerCostMinor: "7.500000",
    }),
  ];

  /** What a coach reads: the provider's cost is the platform's, not theirs. */
  const asCoachSees = (rows: Array<Record<string, unknown>>) => rows.map((row) => ({ ...row, providerCostMinor: null }));

  test("a coach gets their own events of the range as one JSON array, oldest first: camelCase keys, bigints and numerics as strings, integers as numbers, no provider cost", async () => {
    const response = await get("/api/v1/usage", { ...march(), format: "json" }, tokens.a);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("application/json; charset=utf-8");
    expect(response.headers.get("content-disposition")).toBe('attachment; filename="usage-events.json"');
    const rows = JSON.parse(await response.text());
    for (const row of rows) expect(Object.keys(row)).toEqual(columns);
    expect(rows).toEqual(asCoachSees(eventsOfA()));
    expect(await getJson("/api/v1/usage", march(), tokens.b)).toEqual(asCoachSees(eventsOfB()));
  });

  test("JSON is the default format", async () => {
    const response = await get("/api/v1/usage", march(), tokens.a);
    expect(response.headers.get("content-type")).toBe("application/json; charset=utf-8");
    expect(await response.json()).toEqual(await getJson("/api/v1/usage", march(), tokens.a));
  });

  test("an admin and an auditor get every coach's events of the range", async () => {
    const all = [...eventsOfA(), ...eventsOfB()].sort((x, y) => x.occurredAt.localeCompare(y.occurredAt));
    expect(await getJson("/api/v1/usage", march(), tokens.admin)).toEqual(all);
    expect(await getJson("/api/v1/usage", march(), tokens.auditor)).toEqual(all);
  });

  test("coach_profile_id narrows an admin's or auditor's events to one coach; a coach naming another coach, or anyone naming no coach, is told there is no such coach profile they can see (404)", async () => {
    for (const token of [tokens.admin, tokens.auditor]) {
      expect(await getJson("/api/v1/usage", { ...march(), coach_profile_id: b.profileId }, token)).toEqual(eventsOfB());
      expect(await getJson("/api/v1/usage", { ...march(), coach_profile_id: a.profileId }, token)).toEqual(eventsOfA());
    }
    expect(await getJson("/api/v1/usage", { ...march(), coach_profile_id: a.profileId }, tokens.a)).toEqual(asCoachSees(eventsOfA()));
    const refusal = (id: string) => ({ status: 404, body: { error: `There is no coach profile ${id} that you can see.` } });
    for (const format of ["json", "csv"]) {
      const other = await get("/api/v1/usage", { ...march(), coach_profile_id: b.profileId, format }, tokens.a);
      expect({ status: other.status, body: await other.json() }).toEqual(refusal(b.profileId));
    }
    const nobody = crypto.randomUUID();
    for (const token of [tokens.a, tokens.admin]) {
      const response = await get("/api/v1/usage", { ...march(), coach_profile_id: nobody }, token);
      expect({ status: response.status, body: await response.json() }).toEqual(refusal(nobody));
    }
  });

  test("the range is by UTC day, from inclusive and to exclusive", async () => {
    const ids = async (from: string, to: string, token = tokens.admin) =>
      (await getJson("/api/v1/usage", { from: day(from), to: day(to) }, token)).map((row) => row.id);
    expect(await ids("03-02", "03-03")).toEqual([events.a1, events.a2]);
    expect(await ids("03-03", "03-09")).toEqual([events.b1]);
    expect(await ids("03-09", "03-10")).toEqual([events.a3]);
    expect(await ids("03-03", "03-10", tokens.a)).toEqual([events.a3]);
  });

  test("billing_month, provider and model narrow the events, as GraphQL's usageInRange does", async () => {
    const ids = async (query: Record<string, string>) => (await getJson("/api/v1/usage", { ...march(), ...query }, tokens.admin)).map((row) => row.id);
    expect(await ids({ billing_month: day("03-01"), coach_profile_id: a.profileId })).toEqual([events.a1, events.a2, events.a3]);
    expect(await ids({ billing_month: day("04-01") })).toEqual([]);
    expect(await ids({ provider, model: "r1" })).toEqual([events.a1, events.a2, events.b1, events.a3]);
    expect(await ids({ provider: "no-such-provider" })).toEqual([]);
    const response = await get("/api/v1/usage", { ...march(), billing_month: day("03-02") }, tokens.admin);
    expect({ status: response.status, body: await response.json() }).toEqual({
      status: 400, body: { error: `"billing_month" must be the first day of a month (like 2026-11-01), not "${day("03-02")}".` },
    });
  });

  test("CSV has a header of the same camelCase names, then one row per event saying what the JSON says (a coach's provider cost empty)", async () => {
    const response = await get("/api/v1/usage", { ...march(), format: "csv" }, tokens.a);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("text/csv; charset=utf-8");
    expect(response.headers.get("content-disposition")).toBe('attachment; filename="usage-events.csv"');
    const [header, ...rows] = parseStrictCsv(await response.text());
    expect(header).toEqual(columns);
    expect(rows).toEqual((await getJson("/api/v1/usage", march(), tokens.a)).map(asCsv));
    expect(rows[1]).toEqual([
      events.a2, "attempt", `${day("03-02")}T09:00:00+00:00`, expect.any(String), a.profileId, sessionA, attempts.a2, "true", "false",
      provider, "r1", "en", "90", "completed", "true", "first_success", "60", "30", "12", "6", "", planId, day("03-01"), day("03-01"),
      "billing-rules-2026-11-v1", "", "", "",
    ]);
    const other = await getCsv("/api/v1/usage", march(), tokens.b);
    expect(other.rows.map((row) => row[0])).toEqual([events.b1]);
  });

  test("a range without events is an empty array in JSON and only the header in CSV", async () => {
    expect(await getJson("/api/v1/usage", { from: day("05-01"), to: day("06-01") }, tokens.admin)).toEqual([]);
    const csv = await get("/api/v1/usage", { from: day("05-01"), to: day("06-01"), format: "csv" }, tokens.admin);
    expect(await csv.text()).toBe(columns.join(",") + "\r\n");
  });

  test("more events than one fetch (500) come as one valid JSON array, and as CSV, each exactly once in time order", async () => {
    const june = { from: day("06-01"), to: day("07-01") };
    const rows = await getJson("/api/v1/usage", june, tokens.bulk);
    expect(rows).toHaveLength(1100);
    const times = rows.map((row) => Date.parse(row.occurredAt as string));
    expect(times[0]).toBe(Date.parse(`${day("06-10")}T00:01:00Z`));
    expect(times.every((time, i) => i === 0 || time - times[i - 1]! === 60_000)).toBe(true);
    expect(new Set(rows.map((row) => row.id)).size).toBe(1100);
    expect(new Set(rows.map((row) => row.coachProfileId))).toEqual(new Set([bulk.profileId]));
    const csv = await getCsv("/api/v1/usage", june, tokens.bulk);
    expect(csv.rows.map((row) => row[0])).toEqual(rows.map((row) => row.id));
    expect(await getJson("/api/v1/usage", june, tokens.a)).toEqual([]);
  });

  test("without a token it is 401", async () => {
    const response = await get("/api/v1/usage", march());
    expect({ status: response.status, body: await response.json() }).toEqual({ status: 401, body: anonymousError });
  });

  const badParameters: Array<{ name: string; parameters: Record<string, string> | string; message: string }> = [
    { name: "a missing from", parameters: { to: "1910-04-01" }, message: '"from" is required: a date like 2026-11-01 (the range is from inclusive, to exclusive).' },
    { name: "an empty to", parameters: "from=1910-03-01&to=", message: '"to" is required: a date like 2026-11-01 (the range is from inclusive, to exclusive).' },
    { name: "a malformed date", parameters: { from: "1910-3-1", to: "1910-04-01" }, message: '"from" must be a date like 2026-11-01, not "1910-3-1".' },
    { name: "a date that is no date", parameters: { from: "1910-03-01", to: "1910-13-01" }, message: '"to" must be a date like 2026-11-01, not "1910-13-01".' },
    { name: "an unknown parameter", parameters: { from: "1910-03-01", to: "1910-04-01", coach: "x" }, message: 'Unknown parameter "coach"; use from, to, coach_profile_id, billing_month, provider, model, format.' },
    { name: "a coach_profile_id that is no id", parameters: { from: "1910-03-01", to: "1910-04-01", coach_profile_id: "coach-7" }, message: '"coach_profile_id" must be a UUID, not "coach-7".' },
    { name: "a parameter given twice", parameters: "from=1910-03-01&from=1910-03-02&to=1910-04-01", message: 'Give "from" once, as a plain value.' },
    { name: "an unknown format", parameters: { from: "1910-03-01", to: "1910-04-01", format: "xml" }, message: 'format must be json, csv or jsonl, not "xml".' },
    { name: "an inverted range", parameters: { from: "1910-04-01", to: "1910-03-01" }, message: "The range is empty or inverted: from (1910-04-01) must be before to (1910-03-01)." },
    { name: "an empty range", parameters: { from: "1910-03-01", to: "1910-03-01" }, message: "The range is empty or inverted: from (1910-03-01) must be before to (1910-03-01)." },
    { name: "a range longer than 10 years", parameters: { from: "1890-01-01", to: "1910-03-01" }, message: "The range is longer than 10 years (1890-01-01 to 1910-03-01); ask for less." },
  ];

  test.each(badParameters)("$name is a 400 with a clear message", async ({ parameters, message }) => {
    for (const token of [tokens.a, tokens.admin]) {
      const response = await get("/api/v1/usage", parameters, token);
      expect({ status: response.status, body: await response.json() }).toEqual({ status: 400, body: { error: message } });
    }
  });

  test("a day that does not exist in its month is a 400", async () => {
    const response = await get("/api/v1/usage", { from: day("02-30"), to: day("04-01") }, tokens.a);
    expect({ status: response.status, body: await response.json() }).toEqual({
      status: 400, body: { error: expect.stringContaining(`"${day("02-30")}"`) },
    });
  });
});

const analytics = (name: string) => `/api/v1/admin/analytics/${name}`;

describe("GET /api/v1/admin/analytics/usage", () => {
  const columns = ["periodStart", "attempts", "completed", "failed", "freeRetries", "retranscriptions", "audioMinutes", "billableMinutes", "revenueMinor", "providerCostMinor", "grossMarginMinor"];
  /** A period's values in the order of the columns, the start a date of the workload's year ("MM-DD"). */
  const period = (start: string, ...values: string[]) => Object.fromEntries(columns.map((name, i) => [name, i === 0 ? day(start) : values[i - 1]]));
  const byDay = () => [
    period("03-02", "2", "1", "1", "0", "0", "2.00", "1.50", "6", "12.000000", "-6.000000"),
    period("03-03", "1", "1", "0", "0", "0", "1.25", "1.25", "3", "7.500000", "-4.500000"),
    period("03-09", "1", "1", "0", "0", "1", "0.75", "0.75", "9", "4.500000", "4.500000"),
  ];

  test("an admin gets every coach's usage by day as JSON, the default granularity", async () => {
    const response = await get(analytics("usage"), march(), tokens.admin);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("application/json; charset=utf-8");
    expect(response.headers.get("content-disposition")).toBe('attachment; filename="usage.json"');
    const rows = await response.json();
    for (const row of rows) expect(Object.keys(row)).toEqual(columns);
    expect(rows).toEqual(byDay());
    expect(await getJson(analytics("usage"), { ...march(), granularity: "DAY" }, tokens.admin)).toEqual(byDay());
  });

  test("by week (starting Monday) and by month", async () => {
    expect(await getJson(analytics("usage"), { ...march(), granularity: "week" }, tokens.admin)).toEqual([
      period("02-28", "3", "2", "1", "0", "0", "3.25", "2.75", "9", "19.500000", "-10.500000"),
      period("03-07", "1", "1", "0", "0", "1", "0.75", "0.75", "9", "4.500000", "4.500000"),
    ]);
    expect(await getJson(analytics("usage"), { ...march(), granularity: "month" }, tokens.admin)).toEqual([
      period("03-01", "4", "3", "1", "0", "1", "4.00", "3.50", "18", "24.000000", "-6.000000"),
    ]);
  });

  test("as CSV: the header, then the same values", async () => {
    const response = await get(analytics("usage"), { ...march(), format: "csv" }, tokens.admin);
    expect(response.headers.get("content-type")).toBe("text/csv; charset=utf-8");
    expect(response.headers.get("content-disposition")).toBe('attachment; filename="usage.csv"');
    expect(parseStrictCsv(await response.text())).toEqual([columns, ...byDay().map(asCsv)]);
    const weekly = await getCsv(analytics("usage"), { ...march(), granularity: "week" }, tokens.auditor);
    expect(weekly.rows).toEqual([
      [day("02-28"), "3", "2", "1", "0", "0", "3.25", "2.75", "9", "19.500000", "-10.500000"],
      [day("03-07"), "1", "1", "0", "0", "1", "0.75", "0.75", "9", "4.500000", "4.500000"],
    ]);
  });

  test("an auditor gets what an admin gets", async () => {
    expect(await getJson(analytics("usage"), march(), tokens.auditor)).toEqual(byDay());
  });

  test("a granularity other than day, week or month is a 400 naming it", async () => {
    const response = await get(analytics("usage"), { ...march(), granularity: "hour" }, tokens.admin);
    expect({ status: response.status, body: await response.json() }).toEqual({
      status: 400, body: { error: '"granularity" must be one of day, week, month (in any letter case), not "hour".' },
    });
  });
});

describe("GET /api/v1/admin/analytics/revenue", () => {
  const columns = ["revenueMinor", "providerCostMinor", "grossMarginMinor", "grossMarginRatio"];
  const summary = { revenueMinor: "18", providerCostMinor: "24.000000", grossMarginMinor: "-6.000000", grossMarginRatio: "-0.3333" };

  test("revenue, provider cost, margin and margin ratio of every coach, as JSON and CSV", async () => {
    const rows = await getJson(analytics("revenue"), march(), tokens.admin);
    expect(rows.map((row) => Object.keys(row))).toEqual([columns]);
    expect(rows).toEqual([summary]);
    expect(await getJson(analytics("revenue"), march(), tokens.auditor)).toEqual([summary]);
    const response = await get(analytics("revenue"), { ...march(), format: "csv" }, tokens.admin);
    expect(response.headers.get("content-disposition")).toBe('attachment; filename="revenue.csv"');
    expect(parseStrictCsv(await response.text())).toEqual([columns, ["18", "24.000000", "-6.000000", "-0.3333"]]);
  });

  test("a range without usage has zero revenue and no ratio", async () => {
    expect(await getJson(analytics("revenue"), { from: day("05-01"), to: day("06-01") }, tokens.admin)).toEqual([
      { revenueMinor: "0", providerCostMinor: "0", grossMarginMinor: "0", grossMarginRatio: null },
    ]);
  });
});

describe("GET /api/v1/admin/analytics/retranscriptions", () => {
  const columns = ["completed", "retranscriptions", "retranscriptionRate", "retranscriptionRevenueMinor"];

  test("how many successful attempts were re-transcriptions, and their share, as JSON and CSV", async () => {
    const [row, ...rest] = await getJson(analytics("retranscriptions"), march(), tokens.admin);
    expect(rest).toEqual([]);
    expect(Object.keys(row!)).toEqual(columns);
    expect(row).toMatchObject({ completed: "3", retranscriptions: "1", retranscriptionRate: "0.3333" });
    const csv = await getCsv(analytics("retranscriptions"), march(), tokens.auditor);
    expect(csv.header).toEqual(columns);
    expect(csv.rows.map((each) => each.slice(0, 3))).toEqual([["3", "1", "0.3333"]]);
  });

  test("the revenue of re-transcriptions is what they were charged", async () => {
    expect((await getJson(analytics("retranscriptions"), march(), tokens.admin))[0]!.retranscriptionRevenueMinor).toBe("9");
    expect((await getCsv(analytics("retranscriptions"), march(), tokens.admin)).rows[0]![3]).toBe("9");
  });
});

describe("GET /api/v1/admin/analytics/top-coaches", () => {
  const columns = ["coachProfileId", "displayName", "isDeleted", "attempts", "billableMinutes", "revenueMinor", "providerCostMinor", "grossMarginMinor"];
  const topA = () => ({ coachProfileId: a.profileId, displayName: "usage-rest-a", isDeleted: false, attempts: "3", billableMinutes: "2.25", revenueMinor: "15", providerCostMinor: "16.500000", grossMarginMinor: "-1.500000" });
  const topB = () => ({ coachProfileId: b.profileId, displayName: "usage-rest-b", isDeleted: false, attempts: "1", billableMinutes: "1.25", revenueMinor: "3", providerCostMinor: "7.500000", grossMarginMinor: "-4.500000" });

  test("the coaches by revenue, most first, as JSON and CSV; limit keeps the first ones", async () => {
    const rows = await getJson(analytics("top-coaches"), march(), tokens.admin);
    for (const row of rows) expect(Object.keys(row)).toEqual(columns);
    expect(rows).toEqual([topA(), topB()]);
    expect(await getJson(analytics("top-coaches"), { ...march(), limit: "1" }, tokens.admin)).toEqual([topA()]);
    expect(await getJson(analytics("top-coaches"), march(), tokens.auditor)).toEqual([topA(), topB()]);
    const response = await get(analytics("top-coaches"), { ...march(), format: "csv" }, tokens.admin);
    expect(response.headers.get("content-disposition")).toBe('attachment; filename="top-coaches.csv"');
    expect(parseStrictCsv(await response.text())).toEqual([columns, asCsv(topA()), asCsv(topB())]);
  });

  test("a limit that is not a whole number from 1 to 1000 is a 400", async () => {
    for (const limit of ["many", "0", "1001", "2.5", "-3"]) {
      const response = await get(analytics("top-coaches"), { ...march(), limit }, tokens.admin);
      expect({ status: response.status, body: await response.json() }).toEqual({
        status: 400, body: { error: `"limit" must be a whole number from 1 to 1000, not "${limit}".` },
      });
    }
  });
});

describe("every analytics field GraphQL has is a REST route saying the same", () => {
  /** A GraphQL analytics field's rows over March, as the admin reads them (a one-row summary is one object: one row). */
  async function fieldRows(field: string, range: string, columns: string, oneRow = false): Promise<Array<Record<string, unknown>>> {
    const { body } = await graphql(`query ($from: Date, $to: Date) { ${field}(${range}) { ${oneRow ? columns : `nodes { ${columns} }`} } }`,
      march(), tokens.admin);
    expect(body.errors).toBeUndefined();
    return oneRow ? [body.data![field]] : body.data![field].nodes;
  }

  test("failures: the failure rate, failed retries and what failed attempts cost us", async () => {
    const rows = await getJson(analytics("failures"), march(), tokens.admin);
    expect(rows).toEqual(await fieldRows("failureStats", "fromDay: $from, toDay: $to",
      "attempts failed failureRate freeRetries failedAttemptsCostMinor", true));
    expect(rows).toEqual([expect.objectContaining({ attempts: "4", failed: "1", failureRate: "0.2500", failedAttemptsCostMinor: "3.000000" })]);
    expect((await getCsv(analytics("failures"), march(), tokens.auditor)).header).toEqual(
      ["attempts", "failed", "failureRate", "freeRetries", "failedAttemptsCostMinor"]);
  });

  test("providers: attempts, failure rate, minutes, revenue and cost per provider and model", async () => {
    const rows = await getJson(analytics("providers"), march(), tokens.admin);
    expect(rows).toEqual(await fieldRows("usageByProvider", "fromDay: $from, toDay: $to",
      "provider model attempts completed failed failureRate audioMinutes revenueMinor providerCostMinor unknownCostAttempts"));
    expect(rows).toEqual([expect.objectContaining({ provider, model: "r1", attempts: "4", failed: "1", revenueMinor: "18" })]);
  });

  test("revenue of one coach: coach_profile_id narrows it, as GraphQL's coachProfileId does", async () => {
    const rows = await getJson(analytics("revenue"), { ...march(), coach_profile_id: a.profileId }, tokens.admin);
    expect(rows).toEqual([{ revenueMinor: "15", providerCostMinor: "16.500000", grossMarginMinor: "-1.500000", grossMarginRatio: "-0.1000" }]);
    const { body } = await graphql(`query ($from: Date, $to: Date, $c: UUID) { revenueSummary(fromDay: $from, toDay: $to, coachProfileId: $c) {
      revenueMinor providerCostMinor grossMarginMinor grossMarginRatio } }`, { ...march(), c: a.profileId }, tokens.admin);
    expect(rows).toEqual([body.data!.revenueSummary]);
  });

  test("monthly-revenue: plan fees and usage revenue by month, from the month of from up to, not including, the month of to", async () => {
    const rows = await getJson(analytics("monthly-revenue"), { from: day("02-01"), to: day("04-01") }, tokens.admin);
    const { body } = await graphql(
      `query ($from: Date, $to: Date) { monthlyRevenue(fromMonth: $from, toMonth: $to) { nodes { month planFeeMinor usageRevenueMinor totalMinor payingCoaches providerCostMinor grossMarginMinor } } }`,
      { from: day("02-01"), to: day("04-01") }, tokens.admin);
    expect(rows).toEqual(body.data!.monthlyRevenue.nodes);
    expect(rows.map((row) => [row.month, row.usageRevenueMinor])).toEqual([[day("02-01"), "0"], [day("03-01"), "18"]]);
    const response = await get(analytics("monthly-revenue"), { from: day("02-15"), to: day("04-01") }, tokens.admin);
    expect({ status: response.status, body: await response.json() }).toEqual({
      status: 400, body: { error: `"from" must be the first day of a month (like 2026-11-01), not "${day("02-15")}".` },
    });
  });
});

describe("who may read the analytics, and parameters they refuse", () => {
  const endpoints = [
    { name: "usage", parameters: ["from", "to", "granularity", "coach_profile_id"] },
    { name: "providers", parameters: ["from", "to", "coach_profile_id"] },
    { name: "revenue", parameters: ["from", "to", "coach_profile_id"] },
    { name: "monthly-revenue", parameters: ["from", "to"] },
    { name: "retranscriptions", parameters: ["from", "to", "coach_profile_id"] },
    { name: "failures", parameters: ["from", "to", "coach_profile_id"] },
    { name: "top-coaches", parameters: ["from", "to", "limit"] },
  ];

  test.each(endpoints)("$name: a coach is refused with 403, without a token it is 401", async ({ name }) => {
    for (const format of ["json", "csv"]) {
      const coach = await get(analytics(name), { ...march(), format }, tokens.a);
      expect({ status: coach.status, type: coach.headers.get("content-type"), body: await coach.json() }).toEqual({
        status: 403, type: "application/json; charset=utf-8", body: { error: "Billing analytics across coaches are for admins and auditors." },
      });
      const anonymous = await get(analytics(name), { ...march(), format });
      expect({ status: anonymous.status, body: await anonymous.json() }).toEqual({ status: 401, body: anonymousError });
    }
  });

  test.each(endpoints)("$name: a missing or malformed date, an unknown parameter, a bad format and an inverted range are 400s", async ({ name, parameters }) => {
    const cases: Array<[Record<string, string>, string]> = [
      [{ to: day("04-01") }, '"from" is required: a date like 2026-11-01 (the range is from inclusive, to exclusive).'],
      [{ from: day("03-01") }, '"to" is required: a date like 2026-11-01 (the range is from inclusive, to exclusive).'],
      [{ from: "March", to: day("04-01") }, '"from" must be a date like 2026-11-01, not "March".'],
      [{ ...march(), coach: a.profileId }, `Unknown parameter "coach"; use ${[...parameters, "format"].join(", ")}.`],
      [{ ...march(), format: "xlsx" }, 'format must be json, csv or jsonl, not "xlsx".'],
      [{ from: day("04-01"), to: day("03-01") }, `The range is empty or inverted: from (${day("04-01")}) must be before to (${day("03-01")}).`],
    ];
    for (const [query, error] of cases) {
      const response = await get(analytics(name), query, tokens.admin);
      expect({ query, status: response.status, body: await response.json() }).toEqual({ query, status: 400, body: { error } });
    }
  });
});
