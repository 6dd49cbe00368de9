import type { ReactNode } from "react";

/** One column of a table: its heading, the raw value (what the API sent; what the CSV holds) and how it is shown. */
export interface Column<Row> {
  id: string;
  label: string;
  /** The CSV's heading when it says more than the table's (money is shown formatted, downloaded in minor units). */
  csvLabel?: string;
  raw: (row: Row) => string | null | undefined;
  show?: (row: Row) => ReactNode;
  numeric?: boolean;
  /** False for a column of controls (links, buttons): it is shown but not downloaded. */
  csv?: boolean;
  /** False for a column only the CSV carries (what the table shows inside another column's cell). */
  displayed?: boolean;
}

/** A CSV field, quoted when it holds a comma, a quote or a line break (RFC 4180). */
function field(value: string | null | undefined): string {
  const text = value ?? "";
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** The rows as CSV: a header of the columns' labels, then each row's raw values. */
export function toCsv<Row>(all: readonly Column<Row>[], rows: readonly Row[]): string {
  const columns = all.filter((column) => column.csv !== false);
  return [columns.map((column) => field(column.csvLabel ?? column.label)), ...rows.map((row) => columns.map((column) => field(column.raw(row))))]
    .map((line) => line.join(","))
    .join("\r\n") + "\r\n";
}

/** Downloads text as a file, in the browser, without a round trip. */
export function download(filename: string, text: string, type = "text/csv;charset=utf-8"): void {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const link = document.createElement("a");
  link.href = url;
  link.download = filename;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

/**
 * A table of rows with a "Download CSV" button that saves exactly the rows
 * shown (raw values, the columns' labels as header). Each cell carries its raw
 * value (data-value), so tests and tools read what the API sent.
 */
export function DataTable<Row>({
  label,
  columns,
  rows,
  filename,
  rowKey,
}: {
  label: string;
  columns: readonly Column<Row>[];
  rows: readonly Row[];
  filename: string;
  rowKey: (row: Row, index: number) => string;
}) {
  const shown = columns.filter((column) => column.displayed !== false);
  return (
    <div className="data-table">
      <div className="table-tools">
        <button type="button" data-csv={filename} onClick={() => download(`${filename}.csv`, toCsv(columns, rows))}>
          Download CSV<span className="visually-hidden"> of {label.toLowerCase()}</span>
        </button>
      </div>
      <div className="table-scroll">
        <table aria-label={label} data-table={filename}>
          <thead>
            <tr>
              {shown.map((column) => (
                <th key={column.id} scope="col" className={column.numeric ? "numeric" : undefined}>
                  {column.label}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {rows.map((row, index) => (
              <tr key={rowKey(row, index)}>
                {shown.map((column) => (
                  <td key={column.id} data-column={column.id} data-value={column.raw(row) ?? ""} data-control={column.csv === false ? "" : undefined} className={column.numeric ? "numeric" : undefined}>
                    {column.show ? column.show(row) : (column.raw(row) ?? "—")}
                  </td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </div>
  );
}
