// One archive = a folder <id>/ in an ArchiveStore with one gzip JSON Lines file per table and manifest.json.
export { archiveFormat, type ArchiveFileEntry, type ArchiveKind, type ArchiveManifest } from "./manifest.ts";
export { currentSchemaVersion } from "./schema-version.ts";
export { ArchiveTampered, listArchiveFolders, listArchives, readArchiveLines, readArchiveRows, verifyArchive, type ArchiveVerification, type VerifyOptions } from "./verify.ts";
export { ArchiveNotVerified, writeVerifiedArchive, type ArchiveRequest, type ArchiveTable } from "./write.ts";
