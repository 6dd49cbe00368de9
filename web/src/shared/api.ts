import type { TadaDocumentNode } from "gql.tada";
import { operationBody } from "./persisted.ts";

/** An answer the API gave in words, or a failure to reach it, said in words. */
export class ApiError extends Error {
  readonly code: string | undefined;
  constructor(message: string, code?: string) {
    super(message);
    this.code = code;
  }
}

/** The token was refused (expired, ended, or its account disabled): the tab must sign in again. */
export class SessionEnded extends ApiError {}

/** Sends one typed operation to /graphql (by its documentId when shipped) with the tab's token, and returns its data or throws its errors in words. */
export async function request<Result, Variables>(
  document: TadaDocumentNode<Result, Variables>,
  variables: Variables,
  token: string | null,
): Promise<Result> {
  let response: Response;
  try {
    response = await fetch("/graphql", {
      method: "POST",
      headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify(operationBody(document, variables)),
    });
  } catch {
    throw new ApiError("Custodian could not be reached. Check that the server is running, then try again.");
  }
  let body: { data?: Result | null; errors?: Array<{ message: string; extensions?: { code?: string } }> };
  try {
    body = await response.json();
  } catch {
    throw new ApiError(`Custodian answered ${response.status} ${response.statusText} without a readable body.`);
  }
  if (response.status === 401) {
    throw new SessionEnded(body.errors?.[0]?.message ?? "Your session has ended.");
  }
  if (body.errors?.length) {
    const first = body.errors[0]!;
    // Fields of one operation often fail for one reason: it is said once.
    throw new ApiError([...new Set(body.errors.map((error) => error.message))].join(" "), first.extensions?.code);
  }
  if (!body.data) throw new ApiError(`Custodian answered ${response.status} without data.`);
  return body.data;
}

/** What an export brought: its content, how many rows it holds (0 for a binary file), and the name to save it under. */
export interface ExportFile {
  content: string | Blob;
  rows: number;
  filename: string;
  type: string;
}

/**
 * Reads one of the REST exports (`/api/v1/...`) with the tab's token, every
 * page of it (a `Link: <...>; rel="next"` header names the next one), as one
 * file: a CSV keeps its header line once. A binary answer (a zip) is one
 * file, kept as its bytes. A refusal is thrown in the route's own words.
 */
export async function fetchExport(path: string, search: URLSearchParams, token: string): Promise<ExportFile> {
  let next: string | null = `${path}?${search}`;
  const parts: string[] = [];
  let filename = "export";
  let type = "text/plain";
  let rows = 0;
  while (next) {
    let response: Response;
    try {
      response = await fetch(next, { headers: { authorization: `Bearer ${token}` } });
    } catch {
      throw new ApiError("Custodian could not be reached. Check that the server is running, then try again.");
    }
    if (!response.ok) {
      const body = (await response.json().catch(() => null)) as { error?: string } | null;
      const message = body?.error ?? `Custodian answered ${response.status} ${response.statusText}.`;
      throw response.status === 401 ? new SessionEnded(message) : new ApiError(message);
    }
    type = response.headers.get("content-type") ?? type;
    filename = /filename="([^"]+)"/.exec(response.headers.get("content-disposition") ?? "")?.[1] ?? filename;
    // CSV, JSON and JSON Lines are read as text, page after page; anything else (a zip) is one file of bytes.
    if (!["text/", "application/json", "application/x-ndjson"].some((textual) => type.startsWith(textual))) {
      return { content: await response.blob(), rows: 0, filename, type };
    }
    const csv = type.startsWith("text/csv");
    let text = await response.text();
    if (csv && parts.length > 0) text = text.slice(text.indexOf("\n") + 1);
    parts.push(text);
    if (type.startsWith("application/json")) {
      rows += (JSON.parse(text) as unknown[]).length;
    } else {
      const lines = text.split(/\r?\n/).filter((line) => line !== "").length;
      rows += csv && parts.length === 1 ? Math.max(0, lines - 1) : lines;
    }
    next = /<([^>]+)>;\s*rel="next"/.exec(response.headers.get("link") ?? "")?.[1] ?? null;
  }
  return { content: parts.join(""), rows, filename, type };
}

/** Hands a file to the browser's downloads. */
export function saveFile(file: ExportFile): void {
  const url = URL.createObjectURL(file.content instanceof Blob ? file.content : new Blob([file.content], { type: file.type }));
  const link = document.createElement("a");
  link.href = url;
  link.download = file.filename;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
