import pg from "pg";
import { runCli } from "../support/cli.ts";
import { testEnvironment } from "../support/environment.ts";
import { queryOnce, withScratchDatabase } from "../support/scratch-database.ts";

// `custodian audit verify` prints the chain head and asks the operator to keep
// it elsewhere; `--head` checks a later chain against it. What it catches is
// what a chain that verifies cannot show by itself: seals and their events
// cut from the end, or a chain rebuilt from scratch.

async function writeRows(databaseUrl: string, count: number): Promise<void> {
  await queryOnce(
    databaseUrl,
    `select app_private.create_user(('head-' || g || '@' || md5(random()::text) || '.example')::citext, 'long-enough-1', 'coach')
     from generate_series(1, $1) g`,
    [count],
  );
}

/** As a superuser who switched the append-only triggers off. */
async function tamper(databaseUrl: string, sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query("set session_replication_role = replica");
    await client.query(sql);
  } finally {
    await client.end();
  }
}

const headOf = (stdout: string) => /^Chain head: ([0-9a-f]{64}) /m.exec(stdout)![1]!;

test("`audit verify --head` passes while the chain leads to the saved head, and fails in words once the seals after it are cut from the end", () =>
  withScratchDatabase(async (databaseUrl) => {
    const env = testEnvironment({ DATABASE_URL: databaseUrl });
    expect((await runCli(["migrate"], env)).code).toBe(0);
    await writeRows(databaseUrl, 3);
    expect((await runCli(["audit", "seal"], env)).code).toBe(0);
    const first = await runCli(["audit", "verify"], env);
    expect(first.code).toBe(0);
    const savedHead = headOf(first.stdout);
    const { rows: [firstSeal] } = await queryOnce(databaseUrl, "select id::text, last_event_id::text from audit.seals order by id desc limit 1");

    // The head just saved is the chain's head.
    const same = await runCli(["audit", "verify", "--head", savedHead], env);
    expect(same).toMatchObject({ code: 0, stderr: "" });
    expect(same.stdout).toContain(`Saved head reached at event ${firstSeal.last_event_id} (seal ${firstSeal.id}); 0 events sealed after it.\n`);

    // More events and a seal later, the chain still passes through it (upper case is accepted too).
    await writeRows(databaseUrl, 2);
    expect((await runCli(["audit", "seal"], env)).code).toBe(0);
    const { rows: [sealedAfter] } = await queryOnce(databaseUrl, "select count(*)::int as n from audit.events where id > $1", [firstSeal.last_event_id]);
    expect(sealedAfter.n).toBeGreaterThan(0);
    const later = await runCli(["audit", "verify", "--head", savedHead.toUpperCase()], env);
    expect(later.code).toBe(0);
    expect(later.stdout).toContain(`Saved head reached at event ${firstSeal.last_event_id} (seal ${firstSeal.id}); ${sealedAfter.n} events sealed after it.\n`);
    const newHead = headOf(later.stdout);
    expect(newHead).not.toBe(savedHead);

    // Cut the newest seal and its events from the end: what remains verifies...
    await tamper(
      databaseUrl,
      `delete from audit.events where id > ${firstSeal.last_event_id};
       delete from audit.seals where id > ${firstSeal.id}`,
    );
    const cut = await runCli(["audit", "verify"], env);
    expect(cut.code).toBe(0);
    expect(headOf(cut.stdout)).toBe(savedHead);
    // ...but no longer leads to the head saved after the second seal.
    const checked = await runCli(["audit", "verify", "--head", newHead], env);
    expect(checked).toMatchObject({
      code: 1,
      stdout: `Audit trail TAMPERED: the chain no longer leads to the saved head ${newHead}: seals were removed from its end, or the chain was rewritten.\n`,
      stderr: "",
    });
    // The older saved head is still on the chain.
    expect((await runCli(["audit", "verify", "--head", savedHead], env)).code).toBe(0);
  }));

test("`audit verify --head` fails when the saved head's seal was altered, and when the chain was rebuilt from scratch", () =>
  withScratchDatabase(async (databaseUrl) => {
    const env = testEnvironment({ DATABASE_URL: databaseUrl });
    expect((await runCli(["migrate"], env)).code).toBe(0);
    await writeRows(databaseUrl, 3);
    expect((await runCli(["audit", "seal"], env)).code).toBe(0);
    const savedHead = headOf((await runCli(["audit", "verify"], env)).stdout);

    // The seal's hash alone cannot be forged: audit.seals checks it against the digests it keeps.
    await expect(tamper(databaseUrl, "update audit.seals set hash = sha256('forged')")).rejects.toMatchObject({ code: "23514" });
    // The head's seal altered, its last digest and its hash together: the hash no longer follows from its events.
    await tamper(
      databaseUrl,
      `update audit.seals set digests = overlay(digests placing sha256('forged') from octet_length(digests) - 31),
         hash = sha256(previous_hash || overlay(digests placing sha256('forged') from octet_length(digests) - 31))`,
    );
    const altered = await runCli(["audit", "verify", "--head", savedHead], env);
    expect(altered.code).toBe(1);
    expect(altered.stdout).toMatch(/^Audit trail TAMPERED: event \d+ was altered after it was sealed in seal \d+/);

    // Every seal thrown away, an event rewritten, and the events sealed
    // again: a chain that verifies on its own, but no longer leads to the
    // saved head.
    await tamper(
      databaseUrl,
      `delete from audit.seals;
       update audit.events set new_values = coalesce(new_values, '{}') || '{"rewritten": true}' where id = (select min(id) from audit.events)`,
    );
    expect((await runCli(["audit", "seal"], env)).code).toBe(0);
    const rebuilt = await runCli(["audit", "verify"], env);
    expect(rebuilt.code).toBe(0);
    expect(headOf(rebuilt.stdout)).not.toBe(savedHead);
    const checked = await runCli(["audit", "verify", "--head", savedHead], env);
    expect(checked).toMatchObject({ code: 1, stdout: expect.stringMatching(/^Audit trail TAMPERED: the chain no longer leads to the saved head [0-9a-f]{64}/) });
  }));

test("`audit verify --head` refuses a value that is not a chain head, and `audit seal` takes no --head", async () => {
  const env = testEnvironment();
  const bad = await runCli(["audit", "verify", "--head", "abc123"], env);
  expect(bad).toMatchObject({
    code: 1,
    stdout: "",
    stderr: 'custodian: --head takes the 64 hexadecimal digits of a chain head printed by `custodian audit verify` (got "abc123").\n',
  });
  const seal = await runCli(["audit", "seal", "--head", "a".repeat(64)], env);
  expect(seal).toMatchObject({ code: 1, stderr: expect.stringMatching(/^custodian: Unknown option '--head'/) });
});
