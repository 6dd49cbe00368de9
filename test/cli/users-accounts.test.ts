import { spawn } from "node:child_process";
import crypto from "node:crypto";
import path from "node:path";
import { projectRoot } from "../../src/paths.ts";
import { closeRootPool, rootPool } from "../support/db.ts";
import { runCli, type CliResult } from "../support/cli.ts";
import { testEnvironment } from "../support/environment.ts";

// The operator's account commands: a password from standard input or a
// prompt without echo (never only the command line), a reset, disabling and
// enabling. They run against the shared test database, on accounts of their own.

const main = path.join(projectRoot, "src", "cli", "main.ts");
const env = testEnvironment();
const emails: string[] = [];

afterAll(async () => {
  await rootPool().query("delete from app_public.users where email = any($1)", [emails]);
  await closeRootPool();
});

function newEmail(label: string): string {
  const email = `${label}-${crypto.randomBytes(5).toString("hex")}@test.example`;
  emails.push(email);
  return email;
}

/** Runs `custodian <args>` with `input` on a piped standard input, closed after it. */
function runWithInput(args: string[], input: string): Promise<CliResult> {
  const child = spawn(process.execPath, [main, ...args], { env: { ...process.env, ...env }, stdio: "pipe" });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk) => (stdout += chunk));
  child.stderr.on("data", (chunk) => (stderr += chunk));
  child.stdin.end(input);
  return new Promise((resolve) => child.on("close", (code) => resolve({ code, stdout, stderr })));
}

/**
 * Runs `custodian <args>` on a terminal of its own (util-linux `script`),
 * answering each prompt once it is shown; what the terminal displayed.
 */
function runOnTerminal(args: string[], answers: string[]): Promise<{ code: number | null; screen: string }> {
  const quote = (word: string) => `'${word.replaceAll("'", "'\\''")}'`;
  const command = [process.execPath, main, ...args].map(quote).join(" ");
  const child = spawn("script", ["-q", "-e", "-c", command, "/dev/null"], { env: { ...process.env, ...env }, stdio: "pipe" });
  let screen = "";
  let prompts = 0;
  child.stdout.on("data", (chunk) => {
    screen += chunk;
    const shown = (screen.match(/Password( again)?: /g) ?? []).length;
    while (prompts < shown && prompts < answers.length) child.stdin.write(`${answers[prompts++]}\r`);
  });
  return new Promise((resolve) => child.on("close", (code) => resolve({ code, screen })));
}

/** What app_public.authenticate answers for an email and password: the role, or the refusal's code. */
async function signIn(email: string, password: string): Promise<string> {
  const { rows } = await rootPool().query("select role, refused_code from app_public.authenticate($1, $2)", [email, password]);
  return rows[0].role ?? rows[0].refused_code;
}

async function openSessions(email: string): Promise<number> {
  const { rows } = await rootPool().query(
    `select count(*)::int as n from app_private.user_sessions s join app_public.users u on u.id = s.user_id
     where u.email = $1 and s.signed_out_at is null`, [email]);
  return rows[0].n;
}

describe("custodian users create reads the password from standard input or a prompt", () => {
  test("standard input that is not a terminal: the first line is the password", async () => {
    const email = newEmail("stdin");
    const created = await runWithInput(["users", "create", "--email", email, "--role", "coach"], "piped passphrase 1\nignored second line\n");
    expect(created).toMatchObject({ code: 0, stderr: "" });
    expect(created.stdout).toMatch(new RegExp(`^Created coach ${email.replaceAll(".", "\\.")} \\([0-9a-f-]{36}\\)\\.\\n$`));
    expect(await signIn(email, "piped passphrase 1")).toBe("coach");
    expect(await signIn(email, "ignored second line")).toBe("CREDS");
  });

  test("--password-stdin reads it the same way; --password still works", async () => {
    const fromStdin = newEmail("password-stdin");
    expect((await runWithInput(["users", "create", "--email", fromStdin, "--role", "auditor", "--password-stdin"], "stdin passphrase\r\n")).code).toBe(0);
    expect(await signIn(fromStdin, "stdin passphrase")).toBe("auditor");
    const fromFlag = newEmail("password-flag");
    expect((await runCli(["users", "create", "--email", fromFlag, "--role", "coach", "--password", "flag passphrase"], env)).code).toBe(0);
    expect(await signIn(fromFlag, "flag passphrase")).toBe("coach");
  });

  test("on a terminal it asks twice without echo", async () => {
    const email = newEmail("prompt");
    const { code, screen } = await runOnTerminal(["users", "create", "--email", email, "--role", "coach"], ["typed passphrase", "typed passphrase"]);
    expect(code).toBe(0);
    expect(screen).toMatch(/Password: \s*Password again: \s*Created coach/);
    expect(screen).not.toContain("typed passphrase");
    expect(await signIn(email, "typed passphrase")).toBe("coach");
  });

  test("two different answers on the terminal change nothing", async () => {
    const email = newEmail("mismatch");
    const { code, screen } = await runOnTerminal(["users", "create", "--email", email, "--role", "coach"], ["first passphrase", "second passphrase"]);
    expect(code).toBe(1);
    expect(screen).toContain("custodian: The two passwords differ; nothing was changed.");
    const { rows } = await rootPool().query("select count(*)::int as n from app_public.users where email = $1", [email]);
    expect(rows[0].n).toBe(0);
  });

  test("a missing, doubled or weak password is refused in one line", async () => {
    const email = newEmail("refused");
    const cases: Array<[string[], string, string]> = [
      [[], "", "custodian: No password on standard input: send it as the first line (or give --password).\n"],
      [["--password", "x-long-enough", "--password-stdin"], "y-long-enough\n", "custodian: Give the password one way: --password or --password-stdin, not both.\n"],
      [[], "short\n", "custodian: The password must be at least 8 characters long.\n"],
    ];
    for (const [flags, input, stderr] of cases) {
      expect(await runWithInput(["users", "create", "--email", email, "--role", "coach", ...flags], input)).toEqual({ code: 1, stdout: "", stderr });
    }
  });
});

describe("custodian users set-password, disable and enable", () => {
  let email: string;

  beforeAll(async () => {
    email = newEmail("operated");
    expect((await runWithInput(["users", "create", "--email", email, "--role", "coach"], "original passphrase\n")).code).toBe(0);
  });

  test("set-password resets the password from standard input and ends every session of the account", async () => {
    expect(await signIn(email, "original passphrase")).toBe("coach");
    expect(await openSessions(email)).toBeGreaterThan(0);
    const reset = await runWithInput(["users", "set-password", "--email", email.toUpperCase()], "reset passphrase\n");
    expect(reset).toMatchObject({ code: 0, stderr: "" });
    expect(reset.stdout).toMatch(/^Set the password of coach .+ \([0-9a-f-]{36}\); every session of the account has ended\.\n$/);
    expect(await openSessions(email)).toBe(0);
    expect(await signIn(email, "original passphrase")).toBe("CREDS");
    expect(await signIn(email, "reset passphrase")).toBe("coach");
  });

  test("disable refuses sign-in and ends the sessions; enable lets the account sign in again", async () => {
    await runWithInput(["users", "set-password", "--email", email], "operated passphrase\n");
    expect(await signIn(email, "operated passphrase")).toBe("coach");
    const disabled = await runCli(["users", "disable", "--email", email], env);
    expect(disabled).toMatchObject({ code: 0, stderr: "" });
    expect(disabled.stdout).toMatch(/^Disabled coach .+ since \d{4}-\d\d-\d\dT[\d:.]+Z: it cannot sign in, and its sessions have ended\.\n$/);
    expect(await openSessions(email)).toBe(0);
    expect(await signIn(email, "operated passphrase")).toBe("28000");
    // Disabling again keeps the first time.
    const again = await runCli(["users", "disable", "--email", email], env);
    expect(again.stdout).toBe(disabled.stdout);

    const enabled = await runCli(["users", "enable", "--email", email], env);
    expect(enabled).toMatchObject({ code: 0, stderr: "" });
    expect(enabled.stdout).toMatch(/^Enabled coach .+: it can sign in again\.\n$/);
    expect(await signIn(email, "operated passphrase")).toBe("coach");
  });

  test("an email no account has, a missing --email and an unknown action are refused in words", async () => {
    const nobody = `nobody-${crypto.randomBytes(5).toString("hex")}@test.example`;
    for (const action of ["disable", "enable"]) {
      expect(await runCli(["users", action, "--email", nobody], env)).toEqual({ code: 1, stdout: "", stderr: `custodian: No account has the email ${nobody}.\n` });
    }
    expect(await runWithInput(["users", "set-password", "--email", nobody], "good passphrase\n")).toEqual({
      code: 1, stdout: "", stderr: `custodian: No account has the email ${nobody}.\n`,
    });
    expect(await runCli(["users", "disable"], env)).toEqual({ code: 1, stdout: "", stderr: "custodian: --email is required.\n" });
    const unknown = await runCli(["users", "delete", "--email", nobody], env);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/^custodian: Usage:\n {2}custodian users create /);
  });
});
