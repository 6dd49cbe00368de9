import { UserError } from "../../errors.ts";
import { requireSchema, withOwnerClient } from "../../db/owner-client.ts";
import { parseFlags } from "../args.ts";
import { withSession } from "../session.ts";

const roles = ["coach", "admin", "auditor"];

export async function users(args: string[]): Promise<void> {
  const [action, ...rest] = args;
  if (action !== "create") throw new UserError('Usage: custodian users create --email E --password P --role R [--name N]');
  const { values } = parseFlags(rest, {
    email: { type: "string" },
    password: { type: "string" },
    role: { type: "string" },
    name: { type: "string" },
  });
  if (!values.email) throw new UserError("--email is required.");
  if (!values.password) throw new UserError("--password is required.");
  if (!values.role || !roles.includes(values.role)) throw new UserError(`--role must be one of ${roles.join(", ")}.`);
  const user = await withSession(({ database }) =>
    withOwnerClient(database.url, async (client) => {
      await requireSchema(client);
      try {
        const { rows } = await client.query(
          "select id, email, role from app_private.create_user($1, $2, $3, $4)",
          [values.email, values.password, values.role, values.name ?? null],
        );
        return rows[0] as { id: string; email: string; role: string };
      } catch (error) {
        const { code, message } = error as { code?: string; message: string };
        if (code === "23505") throw new UserError(`A user with the email ${values.email} already exists.`);
        if (code === "23514") throw new UserError(`Invalid value: ${message}`);
        if (code === "WEAKP") throw new UserError(message);
        throw error;
      }
    }),
  );
  process.stdout.write(`Created ${user.role} ${user.email} (${user.id}).\n`);
}
