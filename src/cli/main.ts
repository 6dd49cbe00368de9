import "./environment.ts";
import { UserError } from "../errors.ts";
import { commands, usage } from "./commands/index.ts";

async function main(argv: string[]): Promise<void> {
  const [name, ...args] = argv;
  if (!name || name === "help" || name === "--help" || name === "-h") {
    process.stdout.write(usage);
    return;
  }
  const command = commands[name];
  if (!command) throw new UserError(`Unknown command "${name}". Run "custodian help".`);
  await command(args);
}

main(process.argv.slice(2)).then(
  () => {
    process.exitCode ??= 0;
  },
  (error: unknown) => {
    if (error instanceof UserError) {
      process.stderr.write(`custodian: ${error.message}\n`);
    } else if (["57P01", "57P02", "57P03"].includes((error as { code?: string })?.code ?? "")) {
      // Shut down under a command: a server stopped while the command used its database.
      process.stderr.write(`custodian: the database shut down while this command ran (${(error as Error).message}); run it again.\n`);
    } else {
      process.stderr.write(`custodian: unexpected error\n${(error as Error)?.stack ?? String(error)}\n`);
    }
    process.exit(1);
  },
);
