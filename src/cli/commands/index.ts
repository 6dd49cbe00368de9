import { archive } from "./archive.ts";
import { audit } from "./audit.ts";
import { db } from "./db.ts";
import { exportRows } from "./export.ts";
import { gdpr } from "./gdpr.ts";
import { migrate } from "./migrate.ts";
import { retention } from "./retention.ts";
import { schema } from "./schema.ts";
import { seed } from "./seed.ts";
import { start } from "./start.ts";
import { usage as usageCommand } from "./usage.ts";
import { users } from "./users.ts";
import { worker } from "./worker.ts";

export const commands: Record<string, (args: string[]) => Promise<void>> = {
  start,
  migrate,
  worker,
  users,
  seed,
  db,
  schema,
  audit,
  usage: usageCommand,
  gdpr,
  retention,
  archive,
  export: exportRows,
};

export const usage = `Usage: custodian <command>

  start                     database, migrations, API and worker (seeds demo data on first start)
  migrate                   take the database to the current schema (idempotent)
  worker [--once]           run jobs; --once runs what is due, then exits
  users create --email E --role coach|admin|auditor [--name N] [--password-stdin]
                            create an account; the password comes from stdin or a prompt
  users set-password --email E [--password-stdin]
                            reset an account's password; its sessions end
  users disable|enable --email E
                            stop an account signing in (its sessions end), or let it again
  seed --demo [--scale N]   demo data; --scale multiplies it for benchmarks
  db reset                  drop and re-create the database (refused in production)
  schema export             write schema.graphql from the live schema
  audit seal                seal pending audit events into the hash chain now
  audit verify [--head H]   recompute the hash chain (from the newest checkpoint once months were archived
                            and dropped); exits 1 and names the first altered event, or when the chain no
                            longer leads to a head H saved from an earlier verify
  audit verify --archive ID check an archived month of the trail on its own: its events against its seals
  usage rate                price the usage captured and not rated yet (the worker does it every minute)
  usage aggregate [--from D --to D]
                            rate, then rebuild the daily usage rollups of a range of days (default: all)
  gdpr erase --client ID --reason TEXT
                            file and run an erasure request for a client; prints the residue count
  gdpr export --client ID --out FILE
                            write everything held about a client to a zip file
  gdpr report [--as-of T]   the GDPR readiness report, deadlines judged at T (now)
  retention run [--policy P] [--dry-run] [--as-of T] [--batch-size N]
                            apply the retention policies (the worker does it daily): archive then
                            delete, anonymize, delete; held rows are spared; one run at a time
  retention policies        the retention policies, in the order a run applies them
  retention preview [--policy P] [--as-of T]
                            what a run would do at T (now): rows due, spared by a legal hold
  archive list              the retention archives in ARCHIVE_DIR, from their manifests
  archive verify ID|--all   re-read archives (checksums, sizes, row counts); exits 1 naming each problem
  archive restore ID [--into-schema NAME] [--table SCHEMA.TABLE]
                            put an archive's rows back (or into new tables for inspection);
                            names each row that cannot go back
  archive drop-inspection NAME
                            drop an inspection schema that restore made, and its copies' place
                            in the map of personal data (an erasure asks for this first)
  export usage-events|invoices|analytics NAME|audit-events --from D --to D --out FILE
         [--format jsonl|csv] [--coach ID] [--granularity G] [--limit N] [--as EMAIL]
                            stream a range to a file (as GET /api/v1/exports/...), with progress

While \`custodian start\` runs on the embedded database, the other commands use its
database (db reset, a second start and a long-running worker are refused).
Settings come from the environment: see README.md.
`;
