import pg from "pg";
import { migrate } from "../../src/db/migrate.ts";
import { demoLogins, seedDemo } from "../../src/seed/seed-demo.ts";
import { startCli } from "../support/cli.ts";
import { TEST_AUTHENTICATOR_PASSWORD, testEnvironment } from "../support/environment.ts";
import { withScratchDatabase } from "../support/scratch-database.ts";

// The demo's now, pinned: its history is the 180 days before it, May to
// November 2026, every one of them a past month that an admin may close.
const AS_OF = new Date("2026-11-20T12:00:00Z");
const MONTHS = ["2026-05-01", "2026-06-01", "2026-07-01", "2026-08-01", "2026-09-01", "2026-10-01", "2026-11-01"];

interface MonthFigures {
  month: string;
  plan_fee_minor: number;
  usage_minor: number;
  total_minor: number;
  paying_coaches: number;
}

const invoiceColumns = `coach_profile_id::text as coach_profile_id, month::text as month, plan_name, plan_fee_minor::int as plan_fee_minor,
  audio_seconds::int as audio_seconds, included_seconds::int as included_seconds, charged_seconds::int as charged_seconds,
  usage_minor::int as usage_minor, credits_minor::int as credits_minor, total_minor::int as total_minor, late_events`;

const byCoach = (a: Record<string, any>, b: Record<string, any>) =>
  a.coach_profile_id < b.coach_profile_id ? -1 : a.coach_profile_id > b.coach_profile_id ? 1 : 0;

/** One month's figures from its invoices, as the monthly revenue report states them. */
function summed(month: string, invoices: Array<Record<string, any>>): MonthFigures {
  return {
    month,
    plan_fee_minor: invoices.reduce((sum, invoice) => sum + invoice.plan_fee_minor, 0),
    usage_minor: invoices.reduce((sum, invoice) => sum + invoice.usage_minor, 0),
    total_minor: invoices.reduce((sum, invoice) => sum + invoice.total_minor, 0),
    paying_coaches: invoices.filter((invoice) => invoice.plan_fee_minor > 0).length,
  };
}

test("on the demo data, monthly revenue, the previews and the frozen invoices agree on every month, and every coach pays every month it was live", () =>
  withScratchDatabase(async (databaseUrl) => {
    await migrate(databaseUrl, TEST_AUTHENTICATOR_PASSWORD);
    await seedDemo(databaseUrl, 1, false, AS_OF);
    const client = new pg.Client({ connectionString: databaseUrl });
    await client.connect();
    try {
      // The history is coherent: plans, accounts, profiles and clients exist
      // before anything that uses them.
      const { rows: [order] } = await client.query(`select
        (select count(*)::int from app_public.coach_profiles cp join app_public.users u on u.id = cp.user_id
          join app_public.billing_plans p on p.id = cp.plan_id where u.created_at > cp.created_at or p.created_at > cp.created_at) as profiles_before_plan_or_account,
        (select count(*)::int from app_public.clients c join app_public.coach_profiles cp on cp.id = c.coach_profile_id
          where c.created_at < cp.created_at) as clients_before_coach,
        (select count(*)::int from app_public.coaching_sessions s join app_public.clients c on c.id = s.client_id
          where s.recorded_at < c.created_at or s.created_at < c.created_at) as sessions_before_client,
        (select count(*)::int from app_public.transcriptions t join app_public.coaching_sessions s on s.id = t.session_id
          where t.created_at < s.recorded_at or t.finished_at < t.created_at) as attempts_out_of_order,
        (select count(*)::int from app_public.usage_events e join app_public.coach_profiles cp on cp.id = e.coach_profile_id
          where e.occurred_at < cp.created_at) as usage_before_profile,
        (select count(*)::int from app_public.usage_events e where e.occurred_at > $1) as usage_after_as_of,
        (select min(date_trunc('month', e.occurred_at at time zone 'UTC'))::date::text from app_public.usage_events e) as first_usage_month,
        (select max(date_trunc('month', e.occurred_at at time zone 'UTC'))::date::text from app_public.usage_events e) as last_usage_month`,
        [AS_OF]);
      expect(order).toEqual({
        profiles_before_plan_or_account: 0, clients_before_coach: 0, sessions_before_client: 0, attempts_out_of_order: 0,
        usage_before_profile: 0, usage_after_as_of: 0, first_usage_month: MONTHS[0], last_usage_month: MONTHS.at(-1),
      });

      // The reports, through the API an admin uses: a server of its own on the demo database.
      const server = await startCli(["start"], testEnvironment({ DATABASE_URL: databaseUrl, PORT: "0", DATA_DIR: process.env.TEST_TMP_DIR! }),
        /GraphQL\s+(http:\S+)\/graphql/);
      try {
        const graphqlUrl = `${server.match[1]}/graphql`;
        const ask = async (query: string, variables: Record<string, unknown> = {}, token?: string) => {
          const response = await fetch(graphqlUrl, {
            method: "POST",
            headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
            body: JSON.stringify({ query, variables }),
          });
          const body = (await response.json()) as { data?: any; errors?: unknown[] };
          if (body.errors) throw new Error(JSON.stringify(body.errors));
          return body.data;
        };
        const token: string = (await ask(
          "mutation ($email: String!, $password: String!) { authenticate(input: { email: $email, password: $password }) { jwtToken } }",
          { email: demoLogins.admin, password: demoLogins.password })).authenticate.jwtToken;
        const revenue = async (): Promise<MonthFigures[]> =>
          (await ask(`query ($from: Date, $to: Date) { monthlyRevenue(fromMonth: $from, toMonth: $to) {
              nodes { month planFeeMinor usageRevenueMinor totalMinor payingCoaches } } }`, { from: MONTHS[0], to: "2026-12-01" }, token))
            .monthlyRevenue.nodes.map((row: Record<string, string>) => ({
              month: row.month, plan_fee_minor: Number(row.planFeeMinor), usage_minor: Number(row.usageRevenueMinor),
              total_minor: Number(row.totalMinor), paying_coaches: Number(row.payingCoaches) }));
        const previews = async (month: string): Promise<Array<Record<string, any>>> =>
          (await ask(`query ($month: Date!) { invoicePreview(month: $month) { nodes {
              coachProfileId month planName planFeeMinor audioSeconds includedSeconds chargedSeconds usageMinor creditsMinor totalMinor lateEvents closedAt } } }`,
            { month }, token))
            .invoicePreview.nodes.map((row: Record<string, any>) => ({
              coach_profile_id: row.coachProfileId, month: row.month, plan_name: row.planName, plan_fee_minor: Number(row.planFeeMinor),
              audio_seconds: Number(row.audioSeconds), included_seconds: Number(row.includedSeconds), charged_seconds: Number(row.chargedSeconds),
              usage_minor: Number(row.usageMinor), credits_minor: Number(row.creditsMinor), total_minor: Number(row.totalMinor),
              late_events: row.lateEvents, closed_at: row.closedAt }))
            .sort(byCoach);

        // Every month: the three demo coaches, each paying its plan's fee.
        const { rows: coaches } = await client.query(
          `select cp.id::text as coach_profile_id, p.name as plan_name, p.monthly_fee_minor::int as fee
           from app_public.coach_profiles cp join app_public.billing_plans p on p.id = cp.plan_id order by cp.id::text`);
        coaches.sort(byCoach);
        expect(coaches.map((coach) => coach.plan_name).sort()).toEqual(["Practice", "Professional", "Starter"]);
        const standing = new Map<string, Array<Record<string, any>>>();
        for (const month of MONTHS) {
          const invoices = await previews(month);
          standing.set(month, invoices);
          expect(invoices.map(({ coach_profile_id, plan_name, plan_fee_minor, closed_at }) => ({ coach_profile_id, plan_name, plan_fee_minor, closed_at })))
            .toEqual(coaches.map(({ coach_profile_id, plan_name, fee }) => ({ coach_profile_id, plan_name, plan_fee_minor: fee, closed_at: null })));
          expect(invoices.every((invoice) => invoice.usage_minor >= 0 && invoice.credits_minor === 0)).toBe(true);
        }
        // Usage is charged in some months (the Starter plan's 120 minutes run out).
        expect(MONTHS.some((month) => standing.get(month)!.some((invoice) => invoice.usage_minor > 0))).toBe(true);

        // The monthly revenue report says what the previews add up to.
        const expected = MONTHS.map((month) => summed(month, standing.get(month)!));
        expect(expected.every((figures) => figures.plan_fee_minor === 1900 + 4900 + 14900 && figures.paying_coaches === 3)).toBe(true);
        expect(await revenue()).toEqual(expected);

        // Closing every month freezes exactly the previews, stamped with their
        // close; the report and the previews (now the frozen invoices) still agree.
        for (const month of MONTHS) {
          expect((await ask("mutation ($month: Date!) { closeMonth(input: { month: $month }) { result } }", { month }, token)).closeMonth.result).toBe(3);
        }
        for (const month of MONTHS) {
          const before = standing.get(month)!.map(({ closed_at, ...invoice }) => ({ ...invoice, closed: true }));
          const { rows: frozen } = await client.query(
            `select ${invoiceColumns}, closed_at is not null as closed from app_public.invoices where month = $1 order by coach_profile_id::text`, [month]);
          expect(frozen.sort(byCoach)).toEqual(before);
          const after = await previews(month);
          expect(after.map(({ closed_at, ...invoice }) => ({ ...invoice, closed: typeof closed_at === "string" }))).toEqual(before);
        }
        expect(await revenue()).toEqual(expected);

        // The Practice coach has an invoice with its fee for every month it was live.
        const practice = coaches.find((coach) => coach.plan_name === "Practice")!;
        const { rows: practiceInvoices } = await client.query(
          "select month::text as month, plan_fee_minor::int as fee from app_public.invoices where coach_profile_id = $1 order by month",
          [practice.coach_profile_id]);
        expect(practiceInvoices).toEqual(MONTHS.map((month) => ({ month, fee: 14900 })));

        // The month after the demo is open: its invoices as they stand have no close time.
        const open = await previews("2026-12-01");
        expect(open.map(({ plan_fee_minor, closed_at }) => ({ plan_fee_minor, closed_at })).sort((a, b) => a.plan_fee_minor - b.plan_fee_minor))
          .toEqual([{ plan_fee_minor: 1900, closed_at: null }, { plan_fee_minor: 4900, closed_at: null }, { plan_fee_minor: 14900, closed_at: null }]);
      } finally {
        await server.stop();
      }
    } finally {
      await client.end();
    }
  }), 180_000);
