import crypto from "node:crypto";
import { loadConfig } from "../../src/config.ts";
import { becomeUser, closeRootPool, errorOf, rootPool, withRootDb } from "../support/db.ts";
import { createUser, PASSWORD, type User } from "../support/fixtures.ts";
import { apiUrl } from "../support/http.ts";

// app_public.authenticate counts refused sign-ins (wrong password, unknown
// email) per email and per client address in a sliding window
// (app_private.sign_in_limits: SIGN_IN_MAX_PER_ACCOUNT, default 10;
// SIGN_IN_MAX_PER_ADDRESS, 50, 1000 in the suite; SIGN_IN_WINDOW_SECONDS,
// 900). Over a limit it checks no password and answers 429 with the seconds
// until the oldest counted attempt leaves the window. The counters are the
// attempts table, so every API server shares them. Each test signs in from
// addresses of its own (X-Forwarded-For, which the server trusts from
// loopback) and inserts past attempts with chosen instants instead of
// waiting.

const users: User[] = [];
const addresses: string[] = [];

afterAll(async () => {
  await rootPool().query("delete from app_private.sign_in_attempts where client_address = any($1)", [addresses]);
  await rootPool().query("delete from app_public.users where id = any($1)", [users.map((user) => user.id)]);
  await closeRootPool();
});

async function newUser(label: string): Promise<User> {
  const user = await createUser(rootPool(), "coach", `rate-${label}`);
  users.push(user);
  return user;
}

/** A documentation address (RFC 5737) no other test uses. */
function newAddress(): string {
  const bytes = crypto.randomBytes(2);
  const address = `203.0.${bytes[0]}.${bytes[1]}`;
  addresses.push(address);
  return address;
}

interface Answer {
  status: number;
  retryAfter: string | null;
  body: { data?: any; errors?: Array<{ message: string; extensions?: Record<string, unknown> }> };
}

async function signIn(email: string, password: string, address: string): Promise<Answer> {
  const response = await fetch(apiUrl("/graphql"), {
    method: "POST",
    headers: { "content-type": "application/json", "x-forwarded-for": address },
    body: JSON.stringify({
      query: "mutation ($email: String!, $password: String!) { authenticate(input: { email: $email, password: $password }) { jwtToken } }",
      variables: { email, password },
    }),
  });
  return { status: response.status, retryAfter: response.headers.get("retry-after"), body: (await response.json()) as Answer["body"] };
}

/** Refused attempts for an email from an address, `secondsAgo` each, as if made then. */
async function pastRefusals(email: string, address: string | null, secondsAgo: number[]): Promise<void> {
  await rootPool().query(
    `insert into app_private.sign_in_attempts (email, user_id, subject_id, outcome, client_address, attempted_at)
     select $1, u.id, coalesce(u.id, app_private.sign_in_subject($1::citext)), case when u.id is null then 'unknown_email' else 'wrong_password' end::app_private.sign_in_outcome,
       $2, now() - make_interval(secs => s)
     from unnest($3::float8[]) s left join app_public.users u on u.email = $1`,
    [email, address, secondsAgo],
  );
}

/**
 * The wait the database should have answered for its latest rate-limited
 * attempt for `email`: from that attempt's instant until `oldestCounted`
 * leaves the 900-second window, rounded up.
 */
async function expectedWait(email: string, oldestCounted: string): Promise<number> {
  const { rows } = await rootPool().query(
    `select ceil(extract(epoch from $2::timestamptz + interval '900 seconds' - a.attempted_at))::int as wait
     from app_private.sign_in_attempts a where a.email = $1 and a.outcome = 'rate_limited' order by a.attempted_at desc limit 1`,
    [email, oldestCounted],
  );
  return rows[0].wait;
}

/** The instants of an email's refused attempts, oldest first. */
async function refusalInstants(email: string): Promise<string[]> {
  const { rows } = await rootPool().query(
    "select attempted_at::text from app_private.sign_in_attempts where email = $1 and outcome in ('wrong_password', 'unknown_email') order by attempted_at",
    [email],
  );
  return rows.map((row) => row.attempted_at);
}

function expectRateLimited(answer: Answer, limit: "for this account" | "from this address"): number {
  expect(answer.status).toBe(429);
  expect(answer.body.data?.authenticate?.jwtToken ?? null).toBeNull();
  expect(answer.body.errors).toHaveLength(1);
  const error = answer.body.errors![0]!;
  const seconds = Number(/^Too many sign-in attempts (?:for this account|from this address); try again in (\d+) seconds\.$/.exec(error.message)?.[1]);
  expect(error.message).toBe(`Too many sign-in attempts ${limit}; try again in ${seconds} seconds.`);
  expect(error.extensions).toEqual({ code: "RATE_LIMITED", retryAfterSeconds: seconds });
  expect(answer.retryAfter).toBe(String(seconds));
  return seconds;
}

describe("per account", () => {
  test("after 10 wrong passwords the right one is refused too, from any address, with a 429, Retry-After and the seconds until the oldest leaves the window", async () => {
    const user = await newUser("account");
    const [guesser, holder] = [newAddress(), newAddress()];
    for (let i = 0; i < 10; i++) {
      const refused = await signIn(user.email, `guess ${i}`, guesser);
      expect(refused.status).toBe(401);
      expect(refused.body.errors?.[0]?.extensions?.code).toBe("CREDS");
    }
    const oldest = (await refusalInstants(user.email))[0]!;
    const limited = await signIn(user.email, PASSWORD, guesser);
    expect(expectRateLimited(limited, "for this account")).toBe(await expectedWait(user.email, oldest));
    // The account's holder, from an address it never signed in from, waits too.
    expect(expectRateLimited(await signIn(user.email, PASSWORD, holder), "for this account")).toBe(await expectedWait(user.email, oldest));
    const { rows } = await rootPool().query(
      "select outcome::text, client_address, count(*)::int as n from app_private.sign_in_attempts where user_id = $1 group by 1, 2 order by 1, 2",
      [user.id],
    );
    expect(rows).toEqual(
      expect.arrayContaining([
        { outcome: "rate_limited", client_address: guesser, n: 1 },
        { outcome: "rate_limited", client_address: holder, n: 1 },
        { outcome: "wrong_password", client_address: guesser, n: 10 },
      ]),
    );
    expect(rows).toHaveLength(3);
  });

  test("an unknown email is limited like a known one, so the answer does not tell them apart", async () => {
    const email = `nobody-${crypto.randomUUID()}@test.example`;
    const address = newAddress();
    await pastRefusals(email, address, [600, 500, 400, 300, 200, 100, 50, 40, 30, 20]);
    const limited = await signIn(email, PASSWORD, address);
    const oldest = (await refusalInstants(email))[0]!;
    expect(expectRateLimited(limited, "for this account")).toBe(await expectedWait(email, oldest));
    await rootPool().query("delete from app_private.sign_in_attempts where email = $1", [email]);
  });

  test("the window slides: attempts older than 900 seconds do not count, and the wait ends when the oldest counted one leaves it", async () => {
    const user = await newUser("window");
    const address = newAddress();
    await pastRefusals(user.email, address, [5000, 1000, 901, 800, 700, 600, 500, 400, 300, 200, 100]);
    // Eight in the window (800 … 100 seconds ago): a ninth and a tenth guess are checked, and refused.
    for (let i = 0; i < 2; i++) expect((await signIn(user.email, "wrong", address)).body.errors?.[0]?.extensions?.code).toBe("CREDS");
    const inWindow = (await refusalInstants(user.email)).slice(3);
    expect(inWindow).toHaveLength(10);
    const wait = expectRateLimited(await signIn(user.email, PASSWORD, address), "for this account");
    expect(wait).toBe(await expectedWait(user.email, inWindow[0]!));
    expect(wait).toBeLessThanOrEqual(100);
  });

  test("an address the account signed in from in the last 30 days counts only its own guesses, so guessing from elsewhere cannot lock its holder out", async () => {
    const user = await newUser("known-address");
    const [home, guesser] = [newAddress(), newAddress()];
    await rootPool().query(
      `insert into app_private.sign_in_attempts (email, user_id, subject_id, outcome, session_id, client_address, attempted_at)
       values ($1, $2, $2, 'signed_in', gen_random_uuid(), $3, now() - interval '2 days')`,
      [user.email, user.id, home],
    );
    await pastRefusals(user.email, guesser, [300, 290, 280, 270, 260, 250, 240, 230, 220, 210, 200, 190]);
    expectRateLimited(await signIn(user.email, PASSWORD, guesser), "for this account");
    const atHome = await signIn(user.email, PASSWORD, home);
    expect(atHome.status).toBe(200);
    expect(typeof atHome.body.data?.authenticate?.jwtToken).toBe("string");
    // Guesses from the known address itself are limited all the same.
    await pastRefusals(user.email, home, [100, 90, 80, 70, 60, 50, 40, 30, 20, 10]);
    expectRateLimited(await signIn(user.email, PASSWORD, home), "for this account");
  });

  test("attempts sent at once are counted one after another: of 14 wrong passwords sent together, 10 are checked and 4 refused unchecked", async () => {
    const user = await newUser("at-once");
    const answers = await Promise.all(Array.from({ length: 14 }, (_, i) => signIn(user.email, `guess ${i}`, newAddress())));
    expect(answers.map((answer) => answer.status).sort()).toEqual([...Array(10).fill(401), ...Array(4).fill(429)]);
  });
});

describe("per address", () => {
  test("at SIGN_IN_MAX_PER_ADDRESS refused attempts from one address, for any emails, every sign-in from it waits, a right password's too; another address does not", async () => {
    const { rows } = await rootPool().query("select max_per_address from app_private.sign_in_limits");
    // The suite's server copied its SIGN_IN_MAX_PER_ADDRESS (test/support/environment.ts) there.
    expect(rows).toEqual([{ max_per_address: 1000 }]);
    const [sprayer, other] = [newAddress(), newAddress()];
    const email = `spray-${crypto.randomUUID()}@test.example`;
    await rootPool().query(
      `insert into app_private.sign_in_attempts (email, user_id, subject_id, outcome, client_address, attempted_at)
       select $1 || '-' || i, null, app_private.sign_in_subject($1::citext), 'unknown_email', $2, now() - make_interval(secs => 800 - i * 0.5)
       from generate_series(1, 1000) i`,
      [email, sprayer],
    );
    const user = await newUser("address");
    const limited = await signIn(user.email, PASSWORD, sprayer);
    const { rows: oldest } = await rootPool().query(
      "select min(attempted_at)::text as at from app_private.sign_in_attempts where client_address = $1 and outcome = 'unknown_email'",
      [sprayer],
    );
    expect(expectRateLimited(limited, "from this address")).toBe(await expectedWait(user.email, oldest[0].at));
    expect((await signIn(user.email, PASSWORD, other)).status).toBe(200);
  });
});

describe("in plain SQL", () => {
  test("as custodian_anonymous the per-account limit holds whatever address the session claims, and the limits cannot be raised", async () => {
    const user = await newUser("sql");
    await withRootDb(async (client) => {
      await client.query(
        `insert into app_private.sign_in_attempts (email, user_id, subject_id, outcome)
         select $1, $2, $2, 'wrong_password' from generate_series(1, 10)`,
        [user.email, user.id],
      );
      await becomeUser(client, null);
      await client.query("select set_config('custodian.client_ip', '198.51.100.7', true)");
      const { rows } = await client.query("select role, user_id, refused_code, refused_message, refused_retry_after from app_public.authenticate($1, $2)", [
        user.email,
        PASSWORD,
      ]);
      expect(rows[0]).toMatchObject({ role: null, user_id: null, refused_code: "RATE_LIMITED" });
      expect(rows[0].refused_message).toBe(`Too many sign-in attempts for this account; try again in ${rows[0].refused_retry_after} seconds.`);
      // The ten attempts were made at this transaction's now(), the instant authenticate reads.
      expect(rows[0].refused_retry_after).toBe(900);
      expect(await errorOf(client, "update app_private.sign_in_limits set max_per_account = 1000000")).toMatchObject({ code: "42501" });
      // No setting of the session's is read for the limits.
      await client.query("select set_config('custodian.sign_in_max_per_account', '1000000', true)");
      const again = await client.query("select refused_code from app_public.authenticate($1, $2)", [user.email, PASSWORD]);
      expect(again.rows).toEqual([{ refused_code: "RATE_LIMITED" }]);
    });
  });

  test("as the superuser too: authenticate applies the limit to every caller, and records the attempt it refused unchecked", async () => {
    const user = await newUser("superuser");
    await withRootDb(async (client) => {
      await client.query(
        `insert into app_private.sign_in_attempts (email, user_id, subject_id, outcome, attempted_at)
         select $1, $2, $2, 'wrong_password', now() - interval '1 minute' from generate_series(1, 10)`,
        [user.email, user.id],
      );
      const { rows } = await client.query("select refused_code, refused_retry_after from app_public.authenticate($1, $2)", [user.email, PASSWORD]);
      expect(rows).toEqual([{ refused_code: "RATE_LIMITED", refused_retry_after: 840 }]);
      const recorded = await client.query("select outcome::text, session_id from app_private.sign_in_attempts where user_id = $1 and outcome = 'rate_limited'", [user.id]);
      expect(recorded.rows).toEqual([{ outcome: "rate_limited", session_id: null }]);
    });
  });
});

describe("configuration", () => {
  test("SIGN_IN_MAX_PER_ACCOUNT, SIGN_IN_MAX_PER_ADDRESS and SIGN_IN_WINDOW_SECONDS have defaults and refuse a bad value in words", () => {
    expect(loadConfig({}).signInLimits).toEqual({ maxPerAccount: 10, maxPerAddress: 50, windowSeconds: 900 });
    expect(() => loadConfig({ SIGN_IN_MAX_PER_ACCOUNT: "0" })).toThrow('SIGN_IN_MAX_PER_ACCOUNT must be a whole number from 1 to 1000000 (got "0").');
    expect(() => loadConfig({ SIGN_IN_WINDOW_SECONDS: "1h" })).toThrow('SIGN_IN_WINDOW_SECONDS must be a whole number from 1 to 86400 (got "1h").');
  });
});
