import type { ResultOf } from "../../graphql.ts";
import { count, instant } from "../../shared/format.ts";
import { Link } from "../../shared/router.tsx";
import { Panel } from "../../shared/states.tsx";
import { DataTable, type Column } from "../../shared/table.tsx";
import { useQuery } from "../../shared/use-query.ts";
import { RetentionArchiveList } from "./operations.ts";

type Data = ResultOf<typeof RetentionArchiveList>;
type Archive = NonNullable<NonNullable<Data["retentionArchives"]>["nodes"][number]>;
/** One file of an archive, as its manifest lists it. */
interface ArchiveFile {
  archive: Archive;
  name: string;
  table: string;
  rows: number;
  bytes: number;
  sha256: string;
}

/** Newest first. */
const archives = (data: Data) => (data.retentionArchives?.nodes ?? []).filter((one) => one !== null).sort((a, b) => b.createdAt.localeCompare(a.createdAt));

/** The files a manifest lists; nothing while the archive is being written (manifest null). */
function filesOf(archive: Archive): ArchiveFile[] {
  const manifest = archive.manifest as { files?: Array<Partial<Omit<ArchiveFile, "archive">>> } | null;
  return (manifest?.files ?? []).map((file) => ({ archive, name: String(file.name), table: String(file.table), rows: Number(file.rows), bytes: Number(file.bytes), sha256: String(file.sha256) }));
}

/** Where an archive stands, in words: being written, verified with its rows still in place, or rows removed. */
function stage(archive: Archive): string {
  if (archive.rowsRemovedAt) return "rows removed";
  if (archive.verifiedAt) return "verified; rows still in the database";
  if (archive.writtenAt) return "written, not verified";
  return "being written";
}

/**
 * Archives (`/admin/retention/archives`, admins and auditors): every archive
 * retention wrote (rows of a policy, or a month of the audit trail), where its
 * copy is, when it was written, verified and its rows removed, and each of
 * its files with rows, bytes and SHA-256 from its manifest.
 */
export function Archives() {
  const list = useQuery(RetentionArchiveList, {});
  return (
    <>
      <header className="page-header">
        <h1>Archives</h1>
      </header>
      <nav className="links" aria-label="Retention pages">
        <Link to="/retention" search={{ run: null }}>Policies and dry run</Link>
        <Link to="/retention/runs" search={{ run: null }}>Runs</Link>
      </nav>
      <Panel title="Archive records" state={list} isEmpty={(data) => archives(data).length === 0} empty="No archive yet: retention writes one before it removes rows.">
        {(data) => <ArchiveTable rows={archives(data)} />}
      </Panel>
      <Panel title="Files" state={list} isEmpty={(data) => archives(data).every((one) => filesOf(one).length === 0)} empty="No archive has files yet.">
        {(data) => (
          <>
            <p className="hint">
              Each file as its archive’s manifest lists it; <code>custodian archive verify ID</code> reads it back against these rows, bytes and SHA-256.
            </p>
            <FileTable rows={archives(data).flatMap(filesOf)} />
          </>
        )}
      </Panel>
    </>
  );
}

function ArchiveTable({ rows }: { rows: Archive[] }) {
  const columns: Column<Archive>[] = [
    {
      id: "archive",
      label: "Archive",
      raw: (row) => row.rowId,
      show: (row) => (
        <span className="hash" title={row.rowId}>
          {row.rowId.slice(0, 8)}…<span className="visually-hidden">{row.rowId.slice(8)} (the id custodian archive verify takes)</span>
        </span>
      ),
    },
    { id: "kind", label: "Kind", raw: (row) => row.kind, show: (row) => (row.kind === "audit_partition" ? "audit month" : "rows") },
    { id: "policy", label: "Policy", raw: (row) => row.policyName, show: (row) => (row.policyName ? <code>{row.policyName}</code> : "—") },
    {
      id: "run",
      label: "Run",
      raw: (row) => row.runId,
      show: (row) =>
        row.runId ? (
          <Link to="/retention/runs" search={{ run: row.runId }}>
            <span className="hash">{row.runId.slice(0, 8)}…</span>
            <span className="visually-hidden"> (the run that wrote it)</span>
          </Link>
        ) : (
          "—"
        ),
    },
    { id: "rows", label: "Rows", raw: (row) => row.rowCount, show: (row) => count(row.rowCount), numeric: true },
    { id: "from", label: "Oldest row", raw: (row) => row.timeFrom, show: (row) => instant(row.timeFrom) },
    { id: "to", label: "Newest row", raw: (row) => row.timeTo, show: (row) => instant(row.timeTo) },
    { id: "store", label: "Stored in", raw: (row) => row.store },
    { id: "written", label: "Written", raw: (row) => row.writtenAt, show: (row) => instant(row.writtenAt) },
    { id: "verified", label: "Verified", raw: (row) => row.verifiedAt, show: (row) => instant(row.verifiedAt) },
    { id: "removed", label: "Rows removed", raw: (row) => row.rowsRemovedAt, show: (row) => instant(row.rowsRemovedAt) },
    { id: "stage", label: "Stage", raw: (row) => stage(row) },
  ];
  return (
    <>
      <p className="count" data-count="archives">{count(String(rows.length))} archive{rows.length === 1 ? "" : "s"}</p>
      <DataTable label="Archive records" columns={columns} rows={rows} filename="retention-archives" rowKey={(row) => row.rowId} />
    </>
  );
}

function FileTable({ rows }: { rows: ArchiveFile[] }) {
  const columns: Column<ArchiveFile>[] = [
    { id: "archive", label: "Archive", raw: (row) => row.archive.rowId, show: (row) => <span className="hash">{row.archive.rowId.slice(0, 8)}…</span> },
    { id: "name", label: "File", raw: (row) => row.name, show: (row) => <code>{row.name}</code> },
    // The file is named after its table: the table is the CSV's alone.
    { id: "table", label: "Table", raw: (row) => row.table, displayed: false },
    { id: "rows", label: "Rows", raw: (row) => String(row.rows), show: (row) => count(String(row.rows)), numeric: true },
    { id: "bytes", label: "Bytes", raw: (row) => String(row.bytes), show: (row) => count(String(row.bytes)), numeric: true },
    { id: "sha256", label: "SHA-256", raw: (row) => row.sha256, show: (row) => <span className="hash">{row.sha256}</span> },
  ];
  return <DataTable label="Archive files" columns={columns} rows={rows} filename="retention-archive-files" rowKey={(row) => `${row.archive.rowId}/${row.name}`} />;
}
