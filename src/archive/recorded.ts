import type pg from "pg";
import { assertManifest, type ArchiveManifest } from "./manifest.ts";

/**
 * The manifest the database recorded when the archive was written
 * (app_public.retention_archives.manifest), or null when there is no such
 * record (an archive from elsewhere, or a database without retention yet).
 * Verifying against it catches a manifest edited together with its files.
 */
export async function recordedManifest(client: pg.ClientBase, id: string): Promise<ArchiveManifest | null> {
  const { rows: [table] } = await client.query("select pg_catalog.to_regclass('app_public.retention_archives') is not null as found");
  if (!table.found) return null;
  const { rows } = await client.query<{ manifest: unknown }>("select manifest from app_public.retention_archives where id = $1", [id]);
  const manifest = rows[0]?.manifest;
  if (manifest === null || manifest === undefined) return null;
  try {
    assertManifest(manifest);
  } catch (error) {
    throw new Error(`The database's record of archive ${id} holds a manifest that is not one: ${(error as Error).message}`);
  }
  return manifest;
}
