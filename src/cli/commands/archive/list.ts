import { listArchiveFolders } from "../../../archive/archive.ts";
import { archiveStoreFor } from "../../../archive/store.ts";
import { loadConfig } from "../../../config.ts";
import { parseFlags } from "../../args.ts";

/** `custodian archive list`: every archive in the store, from its manifest (no database needed). */
export async function list(args: string[]): Promise<void> {
  parseFlags(args, {});
  const store = archiveStoreFor(loadConfig());
  const folders = await listArchiveFolders(store);
  if (folders.length === 0) {
    process.stdout.write(`No archives in the ${store.description}.\n`);
    return;
  }
  const header = ["Archive", "Kind", "Policy", "Created", "Rows", "Files"];
  const rows = folders.map(({ id, manifest, problem }) =>
    manifest
      ? [id, manifest.kind, manifest.policy ?? "—", manifest.createdAt, String(manifest.files.reduce((sum, file) => sum + file.rows, 0)), String(manifest.files.length)]
      : [id, "?", "?", "?", "?", `unreadable: ${problem}`],
  );
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column]!.length)));
  const line = (cells: string[]) => cells.map((cell, column) => cell.padEnd(widths[column]!)).join("  ").trimEnd();
  process.stdout.write([`Archives in the ${store.description}:`, line(header), ...rows.map(line), ""].join("\n"));
}
