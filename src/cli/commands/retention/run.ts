import { archiveStoreFor } from "../../../archive/store.ts";
import { requireSchema, withOwnerClient } from "../../../db/owner-client.ts";
import { UserError } from "../../../errors.ts";
import { runRetention, type RunProgress } from "../../../retention/run.ts";
import { instant, parseFlags, positiveInteger } from "../../args.ts";
import { progressBar } from "../../progress.ts";
import { withSession } from "../../session.ts";
import { formatTable } from "./table.ts";

/**
 * `custodian retention run [--policy P] [--dry-run] [--as-of T] [--batch-size N]`:
 * one retention run (every enabled policy, or P), with a progress bar per
 * policy, then what each policy did. Exits 1 when a policy failed.
 */
export async function run(args: string[]): Promise<void> {
  const { values } = parseFlags(args, {
    policy: { type: "string" },
    "dry-run": { type: "boolean" },
    "as-of": { type: "string" },
    "batch-size": { type: "string" },
  });
  const asOf = instant(values["as-of"], "--as-of", null);
  const batchSize = positiveInteger(values["batch-size"], "--batch-size", 2000);
  await withSession(({ config, database }) =>
    withOwnerClient(database.url, async (client) => {
      await requireSchema(client);
      const summary = await runRetention(client, archiveStoreFor(config), {
        policy: values.policy ?? null,
        dryRun: values["dry-run"] ?? false,
        asOf,
        task: "custodian retention run",
        batchSize,
        progress: progress(),
      });
      const { run, policies } = summary;
      process.stdout.write(
        `Retention run ${run.id}${run.dry_run ? " (dry run: nothing changed)" : ""} as of ${run.as_of.toISOString()}: ${run.status}\n\n` +
          formatTable(
            ["Policy", "Status", "Archived", "Deleted", "Cascade", "Anonymized", "Spared (hold)", "Errors"],
            policies.map((row) => [row.policy_name, row.status, row.rows_archived, row.rows_deleted, row.cascade_rows_deleted,
              row.rows_anonymized, row.rows_spared_by_hold, String(row.errors)]),
          ) +
          policies.filter((row) => row.error || row.note).map((row) => `${row.policy_name}: ${row.error ?? row.note}\n`).join(""),
      );
      const failed = policies.filter((row) => row.status === "failed");
      if (failed.length > 0) throw new UserError(`${failed.length} polic${failed.length === 1 ? "y" : "ies"} failed: ${failed.map((row) => row.policy_name).join(", ")} (see above; the run log has the errors).`);
    }),
  );
}

function progress(): RunProgress {
  let bar: ReturnType<typeof progressBar> | null = null;
  return {
    policyStarted(policy, rowsDue) {
      bar = progressBar(`${policy.name} (${policy.action.replaceAll("_", " ")})`, rowsDue);
    },
    rowsDone(count) {
      bar?.tick(count);
    },
    policyFinished() {
      bar?.finish();
      bar = null;
    },
  };
}
