/** Whether `value` is a calendar date written YYYY-MM-DD, as the usage commands and routes take their ranges. */
export function isIsoDate(value: string): boolean {
  return /^\d{4}-\d{2}-\d{2}$/.test(value) && !Number.isNaN(Date.parse(`${value}T00:00:00Z`));
}
