// One archive = a folder <id>/ in an ArchiveStore with one gzip JSON Lines file per table and manifest.json.
export { archiveFormat, type ArchiveFileEntry, type ArchiveKind, type ArchiveManifest } from "./manifest.ts";
export { currentSchemaVersion } from "./schema-version.ts";
export { listArchiveFolders, listArchives } from "./list.ts";
export { readArchiveLines, readArchiveRows } from "./read.ts";
export { ArchiveTampered, verifyArchive, type ArchiveVerification, type VerifyOptions } from "./verify.ts";
export { ArchiveNotVerified, writeVerifiedArchive, type ArchiveRequest, type ArchiveTable } from "./write.ts";
export { recordedManifest } from "./recorded.ts";
export { restoreArchive, type RestoreOptions, type RestoreReport, type TableRestoreReport } from "./restore.ts";
