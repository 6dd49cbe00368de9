/** A CSV cell (RFC 4180): quoted when it holds a quote, comma or line break; null is empty. */
export function csvField(text: string | null): string {
  if (text === null) return "";
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}
