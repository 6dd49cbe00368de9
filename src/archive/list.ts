import { isUuid } from "../uuid.ts";
import type { ArchiveManifest } from "./manifest.ts";
import type { ArchiveStore } from "./store.ts";
import { readManifest } from "./verify.ts";

/** Every archive folder in the store with its manifest, or the problem that stops it being read. */
export async function listArchiveFolders(store: ArchiveStore): Promise<{ id: string; manifest: ArchiveManifest | null; problem: string | null }[]> {
  const ids = [...new Set((await store.list("")).map((name) => name.split("/")[0]!))].filter(isUuid);
  const folders = [];
  for (const id of ids) folders.push({ id, ...(await readManifest(store, id)) });
  return folders.sort((a, b) => (a.manifest?.createdAt ?? "").localeCompare(b.manifest?.createdAt ?? "") || a.id.localeCompare(b.id));
}

/** The archives in the store (those with a readable manifest), oldest first. */
export async function listArchives(store: ArchiveStore): Promise<ArchiveManifest[]> {
  return (await listArchiveFolders(store)).flatMap((folder) => (folder.manifest ? [folder.manifest] : []));
}
