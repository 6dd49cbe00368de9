import { runCli } from "../support/cli.ts";
import { testEnvironment } from "../support/environment.ts";
import { queryOnce, withScratchDatabase } from "../support/scratch-database.ts";

test("`custodian migrate` takes an empty database to the current schema, and is idempotent", () =>
  withScratchDatabase(async (databaseUrl) => {
    const first = await runCli(["migrate"], testEnvironment({ DATABASE_URL: databaseUrl }));
    expect(first.stderr).toBe("");
    expect(first).toMatchObject({ code: 0, stdout: "Database is up to date.\n" });

    const tables = await queryOnce(
      databaseUrl,
      `select n.nspname || '.' || c.relname as name, c.relrowsecurity as rls, pg_get_userbyid(c.relowner) as owner
       from pg_class c join pg_namespace n on n.oid = c.relnamespace
       where n.nspname in ('app_public', 'app_private', 'audit', 'governance') and c.relkind in ('r', 'p') and not c.relispartition
       order by 1`,
    );
    expect(tables.rows.map((row) => row.name)).toEqual([
      "app_private.audit_subject_keys",
      "app_private.data_subject_export_chunks",
      "app_private.sign_in_attempts",
      "app_private.sign_in_limits",
      "app_private.usage_coach_daily",
      "app_private.usage_daily_totals",
      "app_private.usage_dirty_days",
      "app_private.usage_ledgers",
      "app_private.usage_records",
      "app_private.usage_rollup_watermark",
      "app_private.user_secrets",
      "app_private.user_sessions",
      "app_private.worker_heartbeats",
      "app_private.worker_pools",
      "app_public.billing_months",
      "app_public.billing_plans",
      "app_public.clients",
      "app_public.coach_profiles",
      "app_public.coaching_sessions",
      "app_public.consents",
      "app_public.data_subject_erasure_runs",
      "app_public.data_subject_erasures",
      "app_public.data_subject_exports",
      "app_public.data_subject_requests",
      "app_public.invoices",
      "app_public.legal_holds",
      "app_public.processing_restrictions",
      "app_public.provider_rates",
      "app_public.retention_archives",
      "app_public.retention_policies",
      "app_public.retention_run_policies",
      "app_public.retention_runs",
      "app_public.transcriptions",
      "app_public.usage_daily",
      "app_public.usage_events",
      "app_public.usage_reconcile_checks",
      "app_public.usage_reconcile_differences",
      "app_public.users",
      "audit.chain_checkpoints",
      "audit.column_policies",
      "audit.events",
      "audit.seals",
      "audit.tracked_tables",
      "governance.archive_restorations",
      "governance.hard_deletions",
      "governance.personal_data_columns",
      "governance.soft_delete_tables",
    ]);
    for (const table of tables.rows) expect(table).toMatchObject({ rls: true, owner: "custodian_owner" });

    const roles = await queryOnce(
      databaseUrl,
      `select rolname, rolcanlogin, rolinherit from pg_roles where rolname like 'custodian\\_%' order by 1`,
    );
    expect(roles.rows).toEqual([
      { rolname: "custodian_admin", rolcanlogin: false, rolinherit: true },
      { rolname: "custodian_anonymous", rolcanlogin: false, rolinherit: true },
      { rolname: "custodian_auditor", rolcanlogin: false, rolinherit: true },
      { rolname: "custodian_authenticator", rolcanlogin: true, rolinherit: false },
      { rolname: "custodian_coach", rolcanlogin: false, rolinherit: true },
      { rolname: "custodian_owner", rolcanlogin: false, rolinherit: true },
    ]);

    const again = await runCli(["migrate"], testEnvironment({ DATABASE_URL: databaseUrl }));
    expect(again).toMatchObject({ code: 0, stdout: "Database is up to date.\n", stderr: "" });
  }));
