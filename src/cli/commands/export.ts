import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import type pg from "pg";
import { requireSchema, withOwnerClient } from "../../db/owner-client.ts";
import { UserError } from "../../errors.ts";
import { exportFormats, exportNamed, exportNames, exportParams, type ExportDefinition, type ExportFormat } from "../../exports/catalog.ts";
import { readQuery } from "../../server/rest/query.ts";
import { callerError, openRows, writeRows } from "../../server/rest/stream-rows.ts";
import { parseFlags } from "../args.ts";
import { progressBar } from "../progress.ts";
import { withSession } from "../session.ts";

const usageLine =
  "Usage: custodian export <usage-events | invoices | analytics NAME | audit-events> --from D --to D [--format jsonl|csv] --out FILE " +
  "[--coach ID] [--granularity day|week|month] [--limit N] [--as EMAIL]";

/** The parameter each flag fills, by the export's parameter names; the range's two ends are --from and --to. */
function queryFromFlags(definition: ExportDefinition, flags: Record<string, string | undefined>): Record<string, string> {
  const [start, end] = definition.parameters.map((parameter) => parameter.name);
  const fills: Record<string, string | undefined> = {
    [start!]: flags.from,
    [end!]: flags.to,
    coach_profile_id: flags.coach,
    granularity: flags.granularity,
    limit: flags.limit,
    format: flags.format,
  };
  const taken = new Set([...definition.parameters.map((parameter) => parameter.name), "format"]);
  const query: Record<string, string> = {};
  for (const [name, value] of Object.entries(fills)) {
    if (value === undefined) continue;
    if (!taken.has(name)) throw new UserError(`The ${definition.name} export takes no ${flagOf(definition)[name] ?? name}.`);
    query[name] = value;
  }
  return query;
}

/** The flag that fills each parameter, for messages. */
function flagOf(definition: ExportDefinition): Record<string, string> {
  const [start, end] = definition.parameters.map((parameter) => parameter.name);
  return { [start!]: "--from", [end!]: "--to", coach_profile_id: "--coach", granularity: "--granularity", limit: "--limit", format: "--format" };
}

/**
 * A message naming query parameters names the flags instead: quoted ("from"),
 * or bare where a message names the range's ends ("from (D) must be before
 * to (D)", "from inclusive, to exclusive", "format must"), so that the words "from" and "to"
 * elsewhere stay words.
 */
function inFlags(definition: ExportDefinition, message: string): string {
  return Object.entries(flagOf(definition)).reduce(
    (text, [parameter, flag]) =>
      text
        .replace(new RegExp(`"${parameter}"`, "g"), `"${flag}"`)
        .replace(new RegExp(`\\b${parameter}\\b(?= \\(| inclusive| exclusive| must)`, "g"), flag),
    message);
}

/**
 * Acts as an account in the open transaction, exactly as the API would for
 * its requests: its role and claims, so row-level security and the cost
 * columns apply as to that account. Without one, the owner reads everything.
 */
async function actAs(client: pg.Client, email: string): Promise<void> {
  const { rows } = await client.query<{ id: string; role: string }>(
    "select id, role::text from app_public.users where email = $1 and disabled_at is null", [email]);
  if (!rows[0]) throw new UserError(`No enabled account has the email ${email}.`);
  await client.query("select pg_catalog.set_config(key, value, true) from json_each_text($1::json)", [
    JSON.stringify({ role: `custodian_${rows[0].role}`, "jwt.claims.user_id": rows[0].id, "jwt.claims.role": rows[0].role }),
  ]);
}

/** Removes the partial file if the command is stopped (Ctrl-C) mid-export, then exits as a shell reports it. */
function removeOnStop(file: string): () => void {
  const stop = (signal: NodeJS.Signals) => {
    fs.rmSync(file, { force: true });
    process.exit(signal === "SIGINT" ? 130 : 143);
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  return () => {
    process.off("SIGINT", stop);
    process.off("SIGTERM", stop);
  };
}

/**
 * `custodian export NAME --from D --to D [--format jsonl|csv] --out FILE`:
 * the same export as GET /api/v1/exports/NAME, through the same cursor and
 * formats, written to FILE with a progress bar. It streams to disk (one
 * batch in memory, waiting on the disk) into a temporary file beside FILE,
 * flushed and renamed to FILE only when whole: FILE is never a part.
 */
export async function exportRows(args: string[]): Promise<void> {
  const { values: flags, positionals } = parseFlags(args, {
    from: { type: "string" }, to: { type: "string" }, format: { type: "string" }, out: { type: "string" },
    coach: { type: "string" }, granularity: { type: "string" }, limit: { type: "string" }, as: { type: "string" },
  }, true);
  const [kind, analyticsName, ...extra] = positionals;
  if (kind === undefined || flags.out === undefined || extra.length > 0 || (kind === "analytics") !== (analyticsName !== undefined)) {
    throw new UserError(`${usageLine}\nExports: ${exportNames.join(", ")}.`);
  }
  const definition = exportNamed(kind === "analytics" ? `analytics/${analyticsName}` : kind);
  let values: Record<string, string | null>;
  let format: ExportFormat;
  try {
    ({ values, format } = readQuery(queryFromFlags(definition, flags), definition.parameters, exportFormats));
  } catch (error) {
    throw error instanceof UserError ? new UserError(inFlags(definition, error.message)) : error;
  }
  const out = path.resolve(flags.out);
  if (!fs.existsSync(path.dirname(out))) throw new UserError(`--out: the folder ${path.dirname(out)} does not exist.`);
  const partial = path.join(path.dirname(out), `.${path.basename(out)}.${crypto.randomBytes(4).toString("hex")}.partial`);

  const rows = await withSession(({ database }) =>
    withOwnerClient(database.url, async (client) => {
      await requireSchema(client);
      // One snapshot: the count the bar runs to and the rows are the same.
      await client.query("begin isolation level repeatable read read only");
      try {
        await client.query("select pg_catalog.set_config('TimeZone', 'UTC', true), pg_catalog.set_config('DateStyle', 'ISO', true)");
        if (flags.as !== undefined) await actAs(client, flags.as);
        const params = exportParams(definition, values);
        let total: number;
        let opened;
        try {
          total = Number((await client.query(`select count(*) from (${definition.sql}) rows_counted`, params)).rows[0].count);
          opened = await openRows(client, definition.sql, params);
        } catch (error) {
          const refused = callerError(error, definition.parameterNames);
          throw refused instanceof Error && refused !== error ? new UserError(inFlags(definition, refused.message)) : refused;
        }
        return await writeFile(partial, out, total, (file, tick) => writeRows(client, opened, format, file, { onBatch: tick }), definition.name);
      } finally {
        await client.query("rollback").catch(() => undefined);
      }
    }),
  );
  process.stdout.write(`Wrote ${rows} row${rows === 1 ? "" : "s"} of ${definition.name} (${format}) to ${out}.\n`);
}

/** Streams into `partial` (readable by its owner only), flushes it to disk, renames it to `out`; removes it on any failure. */
async function writeFile(
  partial: string,
  out: string,
  total: number,
  write: (file: fs.WriteStream, tick: (rows: number) => void) => Promise<number>,
  label: string,
): Promise<number> {
  let fd: number | null;
  try {
    fd = fs.openSync(partial, "wx", 0o600);
  } catch (error) {
    throw refusedByFileSystem(error, out) ?? error;
  }
  const close = () => {
    if (fd !== null) fs.closeSync(fd);
    fd = null;
  };
  const forget = removeOnStop(partial);
  try {
    const file = fs.createWriteStream("", { fd, autoClose: false });
    // A write that fails (a full disk) closes the stream, which ends the export early: it must not pass for whole.
    let failure: Error | null = null;
    file.on("error", (error) => (failure ??= error));
    const bar = progressBar(`Exporting ${label}`, total);
    const rows = await write(file, (count) => bar.tick(count));
    // A stream a failed write destroyed never calls end's callback.
    if (!failure) await new Promise<void>((resolve, reject) => file.end((error?: Error | null) => (error ? reject(error) : resolve())));
    if (failure) throw failure;
    await promisify(fs.fsync)(fd);
    bar.finish();
    close();
    await fs.promises.rename(partial, out);
    return rows;
  } catch (error) {
    close();
    await fs.promises.rm(partial, { force: true });
    throw refusedByFileSystem(error, out) ?? error;
  } finally {
    forget();
  }
}

/** A file system's refusal in words (a folder not writable, a full disk, a file-size limit); null for anything else. */
function refusedByFileSystem(error: unknown, out: string): UserError | null {
  const code = (error as NodeJS.ErrnoException).code;
  const folder = path.dirname(out);
  switch (code) {
    case "EACCES":
    case "EPERM":
    case "EROFS":
      return new UserError(`--out: the folder ${folder} is not writable (${code}); nothing was written.`);
    case "ENOSPC":
    case "EDQUOT":
      return new UserError(`--out: the disk holding ${folder} is full (${code}); the part written was removed and ${out} was not written.`);
    case "EFBIG":
      return new UserError(`--out: the file grew past a file-size limit (EFBIG) of this process or its file system; the part written was removed and ${out} was not written.`);
    default:
      return null;
  }
}
