import { UserError } from "../../errors.ts";
import { seedDemo } from "../../seed/seed-demo.ts";
import { parseFlags, positiveInteger } from "../args.ts";
import { withSession } from "../session.ts";

export async function seed(args: string[]): Promise<void> {
  const { values } = parseFlags(args, { demo: { type: "boolean" }, scale: { type: "string" } });
  if (!values.demo) throw new UserError("Usage: custodian seed --demo [--scale N]");
  const scale = positiveInteger(values.scale, "--scale", 1);
  await withSession(({ database }) => seedDemo(database.url, scale, true));
  process.stdout.write(`Seeded demo data at scale ${scale}.\n`);
}
