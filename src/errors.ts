/**
 * An error the user can cause and fix: bad input, a bad setting, a busy port.
 * The edges catch it and show only its message (the CLI prints one line,
 * HTTP answers 4xx JSON); any other error is a bug and crashes loudly.
 */
export class UserError extends Error {
  override name = "UserError";
}
