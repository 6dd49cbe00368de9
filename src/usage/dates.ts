/** Whether `value` is a calendar date written YYYY-MM-DD, as the usage commands and routes take their ranges. */
export function isIsoDate(value: string): boolean {
  return /^\d{4}-\d{2}-\d{2}$/.test(value) && !Number.isNaN(Date.parse(`${value}T00:00:00Z`));
}

/**
 * Every door reads a range the same way: `from` included, `to` excluded (the
 * CLI's --from/--to, REST's from/to, GraphQL's fromDay/toDay). The day before
 * `to`, YYYY-MM-DD: the last day a range includes.
 */
export function dayBefore(value: string): string {
  return new Date(Date.parse(`${value}T00:00:00Z`) - 86_400_000).toISOString().slice(0, 10);
}
