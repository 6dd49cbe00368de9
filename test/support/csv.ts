/**
 * Parses CSV as the REST exports and the console write it, strictly (RFC 4180): fields
 * separated by commas, records ended by CRLF; a quoted field may hold commas,
 * line breaks and "" for ". Anything else is an error, not a guess.
 */
export function parseStrictCsv(text: string): string[][] {
  const records: string[][] = [];
  let record: string[] = [];
  let field = "";
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const char = text[i]!;
    if (quoted) {
      if (char === '"' && text[i + 1] === '"') (field += '"'), i++;
      else if (char === '"') quoted = false;
      else field += char;
    } else if (char === '"') quoted = true;
    else if (char === ",") record.push(field), (field = "");
    else if (char === "\r" && text[i + 1] === "\n") {
      record.push(field), records.push(record);
      (record = []), (field = ""), i++;
    } else field += char;
  }
  if (quoted) throw new Error("CSV ends inside a quoted field");
  if (field !== "" || record.length > 0) throw new Error("CSV does not end with CRLF");
  return records;
}
