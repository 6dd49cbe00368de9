import { runCli } from "../support/cli.ts";
import { testEnvironment } from "../support/environment.ts";
import { queryOnce, withScratchDatabase } from "../support/scratch-database.ts";

describe("custodian users create", () => {
  test("creates an account that can authenticate, and refuses bad input in one line", () =>
    withScratchDatabase(async (databaseUrl) => {
      const env = testEnvironment({ DATABASE_URL: databaseUrl });
      expect((await runCli(["migrate"], env)).code).toBe(0);

      const created = await runCli(["users", "create", "--email", "First.Admin@test.example", "--password", "s3cret-passw0rd", "--role", "admin", "--name", "First Admin"], env);
      expect(created.code).toBe(0);
      expect(created.stdout).toMatch(/^Created admin First\.Admin@test\.example \([0-9a-f-]{36}\)\.\n$/);
      const token = await queryOnce(databaseUrl, "select (app_public.authenticate('first.admin@test.example', 's3cret-passw0rd')).role");
      expect(token.rows[0].role).toBe("admin");

      const cases: Array<[string[], RegExp]> = [
        [["--email", "first.admin@test.example", "--password", "another-passw0rd", "--role", "coach"], /already exists/],
        [["--email", "x@test.example", "--password", "short", "--role", "coach"], /at least 8 characters/],
        [["--email", "x@test.example", "--password", "long-enough-1", "--role", "owner"], /--role must be one of coach, admin, auditor/],
        [["--email", "not-an-email", "--password", "long-enough-1", "--role", "coach"], /A user.s email must look like name@example.com/],
        [["--password", "long-enough-1", "--role", "coach"], /--email is required/],
      ];
      for (const [args, message] of cases) {
        const result = await runCli(["users", "create", ...args], env);
        expect(result.code).toBe(1);
        expect(result.stderr).toMatch(message);
        expect(result.stderr.trim().split("\n")).toHaveLength(1);
      }
      const count = await queryOnce(databaseUrl, "select count(*)::int as n from app_public.users");
      expect(count.rows[0].n).toBe(1);
    }));
});

describe("custodian seed and db reset", () => {
  test("seed --demo --scale 2 makes coaches on every plan with failures, retries and re-transcriptions; db reset empties it", () =>
    withScratchDatabase(async (databaseUrl) => {
      const env = testEnvironment({ DATABASE_URL: databaseUrl });
      expect((await runCli(["migrate"], env)).code).toBe(0);
      const seeded = await runCli(["seed", "--demo", "--scale", "2"], env);
      expect(seeded).toMatchObject({ code: 0, stdout: "Seeded demo data at scale 2.\n" });

      const { rows } = await queryOnce(
        databaseUrl,
        `select (select count(*) from app_public.users where role = 'coach')::int as coaches,
                (select count(distinct plan_id) from app_public.coach_profiles)::int as plans,
                (select count(*) from app_public.clients)::int as clients,
                (select count(*) from app_public.coaching_sessions)::int as sessions,
                (select count(*) from app_public.transcriptions where status = 'failed')::int as failed,
                (select count(*) from app_public.transcriptions where retry_of is not null)::int as retries,
                (select count(*) from app_public.transcriptions where is_retranscription)::int as retranscriptions,
                (select count(*) from app_public.transcriptions where status in ('queued', 'processing'))::int as in_flight`,
      );
      expect(rows[0]).toMatchObject({ coaches: 6, plans: 3, clients: 48, sessions: 192 });
      for (const kind of ["failed", "retries", "retranscriptions", "in_flight"]) expect(rows[0][kind]).toBeGreaterThan(0);

      const again = await runCli(["seed", "--demo", "--scale", "2"], env);
      expect(again.code).toBe(0);
      const sessions = await queryOnce(databaseUrl, "select count(*)::int as n from app_public.coaching_sessions");
      expect(sessions.rows[0].n).toBe(192);

      const refused = await runCli(["db", "reset"], { ...env, NODE_ENV: "production" });
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(/refused when NODE_ENV=production/);

      const reset = await runCli(["db", "reset"], env);
      expect(reset.code).toBe(0);
      const users = await queryOnce(databaseUrl, "select count(*)::int as n from app_public.users");
      expect(users.rows[0].n).toBe(0);
    }));
});
