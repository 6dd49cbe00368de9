import type pg from "pg";
import { UserError } from "../../errors.ts";
import { requireSchema, withOwnerClient } from "../../db/owner-client.ts";
import { parseFlags } from "../args.ts";
import { withSession } from "../session.ts";

const roles = ["coach", "admin", "auditor"];

export const usersUsage = `Usage:
  custodian users create --email E --role coach|admin|auditor [--name N] [--password-stdin]
  custodian users set-password --email E [--password-stdin]
  custodian users disable --email E
  custodian users enable --email E

The password is read from standard input when it is not a terminal (or with
--password-stdin: its first line), else asked for twice without echo.
--password P still works but is discouraged: other users of the machine can
read it in the process list, and it stays in the shell's history.`;

const passwordFlags = {
  password: { type: "string" },
  "password-stdin": { type: "boolean" },
} as const;

export async function users(args: string[]): Promise<void> {
  const [action, ...rest] = args;
  switch (action) {
    case "create":
      return create(rest);
    case "set-password":
      return setPassword(rest);
    case "disable":
    case "enable":
      return setDisabled(rest, action === "disable");
    default:
      throw new UserError(usersUsage);
  }
}

async function create(args: string[]): Promise<void> {
  const { values } = parseFlags(args, {
    email: { type: "string" },
    role: { type: "string" },
    name: { type: "string" },
    ...passwordFlags,
  });
  if (!values.email) throw new UserError("--email is required.");
  if (!values.role || !roles.includes(values.role)) throw new UserError(`--role must be one of ${roles.join(", ")}.`);
  const password = await readPassword(values);
  const user = await asOwner((client) =>
    client.query("select id, email, role from app_private.create_user($1, $2, $3, $4)", [values.email, password, values.role, values.name ?? null]),
    { "23505": () => `A user with the email ${values.email} already exists.` },
  );
  process.stdout.write(`Created ${user.role} ${user.email} (${user.id}).\n`);
}

async function setPassword(args: string[]): Promise<void> {
  const { values } = parseFlags(args, { email: { type: "string" }, ...passwordFlags });
  if (!values.email) throw new UserError("--email is required.");
  const password = await readPassword(values);
  const user = await asOwner((client) => client.query("select id, email, role from app_private.set_password($1, $2)", [values.email, password]));
  process.stdout.write(`Set the password of ${user.role} ${user.email} (${user.id}); every session of the account has ended.\n`);
}

async function setDisabled(args: string[], disabled: boolean): Promise<void> {
  const { values } = parseFlags(args, { email: { type: "string" } });
  if (!values.email) throw new UserError("--email is required.");
  const user = await asOwner((client) =>
    client.query("select id, email, role, disabled_at from app_private.set_disabled($1, $2)", [values.email, disabled]),
  );
  process.stdout.write(
    disabled
      ? `Disabled ${user.role} ${user.email} (${user.id}) since ${(user.disabled_at as Date).toISOString()}: it cannot sign in, and its sessions have ended.\n`
      : `Enabled ${user.role} ${user.email} (${user.id}): it can sign in again.\n`,
  );
}

interface Account {
  id: string;
  email: string;
  role: string;
  disabled_at?: Date | null;
}

/**
 * Runs one statement as the owner and returns its row. The database's
 * refusals (a weak password, an unknown email, a bad value) become one line;
 * `words` names those this command says better.
 */
async function asOwner(
  statement: (client: pg.Client) => Promise<pg.QueryResult>,
  words: Record<string, () => string> = {},
): Promise<Account> {
  return withSession(({ database }) =>
    withOwnerClient(database.url, async (client) => {
      await requireSchema(client);
      try {
        return (await statement(client)).rows[0] as Account;
      } catch (error) {
        const { code, message, schema, table, constraint } = error as { code?: string; message: string; schema?: string; table?: string; constraint?: string };
        if (code && words[code]) throw new UserError(words[code]());
        if (code === "23514" && constraint) {
          // The same sentence the API gives, from its one home in SQL.
          const { rows } = await client.query<{ words: string }>(
            "select words from app_private.constraint_words() where table_name = $1 and constraint_name = $2",
            [`${schema}.${table}`, constraint],
          );
          throw new UserError(rows[0]?.words ?? `Invalid value: ${message}`);
        }
        if (code === "22P02") throw new UserError(`Invalid value: ${message}`);
        if (code === "WEAKP" || code === "P0002") throw new UserError(message);
        throw error;
      }
    }),
  );
}

/**
 * The password, from wherever the user gave it: --password (discouraged),
 * standard input (--password-stdin, or whenever it is not a terminal), or a
 * prompt without echo, asked twice.
 */
async function readPassword(values: { password?: string; "password-stdin"?: boolean }): Promise<string> {
  if (values.password !== undefined && values["password-stdin"]) {
    throw new UserError("Give the password one way: --password or --password-stdin, not both.");
  }
  if (values.password !== undefined) return values.password;
  if (values["password-stdin"] || !process.stdin.isTTY) {
    const password = firstLine(await readAll(process.stdin));
    if (!password) throw new UserError("No password on standard input: send it as the first line (or give --password).");
    return password;
  }
  const password = await promptHidden("Password: ");
  if (password !== (await promptHidden("Password again: "))) throw new UserError("The two passwords differ; nothing was changed.");
  return password;
}

function readAll(stream: NodeJS.ReadStream): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = "";
    stream.setEncoding("utf8");
    stream.on("data", (chunk: string) => (text += chunk));
    stream.on("end", () => resolve(text));
    stream.on("error", reject);
  });
}

/** The first line without its line ending: what `echo "$PASSWORD" |` and a password file send. */
function firstLine(text: string): string {
  return text.split(/\r?\n/, 1)[0] ?? "";
}

/** Asks on the terminal without echoing what is typed. */
function promptHidden(question: string): Promise<string> {
  const stdin = process.stdin;
  // Echo off before the question shows: an answer typed at once is not echoed either.
  stdin.setRawMode(true);
  stdin.setEncoding("utf8");
  stdin.resume();
  process.stderr.write(question);
  return new Promise((resolve, reject) => {
    let typed: string[] = [];
    const finish = () => {
      stdin.off("data", onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write("\n");
    };
    const onData = (chunk: string) => {
      for (const char of chunk) {
        if (char === "\r" || char === "\n" || char === "\u0004") {
          finish();
          return resolve(typed.join(""));
        }
        if (char === "\u0003") {
          finish();
          return reject(new UserError("Cancelled; nothing was changed."));
        }
        if (char === "\u007f" || char === "\b") typed = typed.slice(0, -1);
        else typed.push(char);
      }
    };
    stdin.on("data", onData);
  });
}
