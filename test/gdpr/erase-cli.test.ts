import { closeRootPool, rootPool } from "../support/db.ts";
import { runCli } from "../support/cli.ts";
import { testEnvironment } from "../support/environment.ts";
import { deletePlantedClients, holdOffInspectionCopiesWhileThisFileRuns, plantClient, residuePlaces, type PlantedClient } from "../support/gdpr.ts";

holdOffInspectionCopiesWhileThisFileRuns();

// `custodian gdpr erase`, as an operator runs it: files, verifies and runs an
// erasure (or runs a verified request), prints the residue count; the audit
// trail still verifies; mistakes are told in one line and change nothing.

const planted: PlantedClient[] = [];
afterAll(async () => {
  await deletePlantedClients(rootPool(), planted);
  await closeRootPool();
});

async function plant(): Promise<PlantedClient> {
  const person = await plantClient(rootPool(), "gdpr-cli");
  planted.push(person);
  return person;
}

const erase = (args: string[]) => runCli(["gdpr", "erase", ...args], testEnvironment());

test("gdpr erase --client files, verifies and runs the erasure, prints the residue count, and the audit trail still verifies", async () => {
  const person = await plant();
  expect((await runCli(["audit", "seal"], testEnvironment())).code).toBe(0);
  const result = await erase(["--client", person.clientId, "--reason", "Identity checked by a call to the number on file"]);
  expect(result.stderr).toBe("");
  expect(result.code).toBe(0);
  expect(result.stdout).toMatch(new RegExp(
    `^Erased ${person.clientId} \\(request [0-9a-f-]{36}\\): 5 rows in 3 tables anonymized, audit key destroyed; residue scan: 0 places still hold a former value \\(8 values searched, 0 shared with other people not searched\\)\\.\\nResidue count: 0\\n$`));
  const request = await rootPool().query(
    "select state, verification, filed_by, verified_by from app_public.data_subject_requests where client_id = $1", [person.clientId]);
  expect(request.rows).toEqual([{ state: "completed", verification: "Identity checked by a call to the number on file", filed_by: null, verified_by: null }]);
  expect(await residuePlaces(rootPool(), person.identifiers, person.contents)).toEqual([]);

  expect((await runCli(["audit", "seal"], testEnvironment())).code).toBe(0);
  const verified = await runCli(["audit", "verify"], testEnvironment());
  expect(verified.code).toBe(0);
  expect(verified.stdout).toMatch(/^Audit trail intact: \d+ events in \d+ seals verified; \d+ not sealed yet\./);
});

test("under a legal hold the CLI says why and keeps the request; --request with --override-reason runs it", async () => {
  const person = await plant();
  await rootPool().query("insert into app_public.legal_holds (client_id, reason) values ($1, 'Tax inspection 2026')", [person.clientId]);
  const refused = await erase(["--client", person.clientId, "--reason", "Signed letter with ID copy"]);
  expect(refused.code).toBe(1);
  const requestId = refused.stderr.match(/run it with --request ([0-9a-f-]{36})/)?.[1];
  expect(refused.stderr).toMatch(new RegExp(
    `^custodian: Cannot erase ${person.clientId}: legal hold [0-9a-f-]{36} placed at .* covers them: Tax inspection 2026 \\(Request ${requestId} stays filed and verified; run it with --request ${requestId}\\.\\)\\n$`));
  const result = await erase(["--request", requestId!, "--override-reason", "Inspection closed; release filed"]);
  expect(result.code).toBe(0);
  expect(result.stdout).toMatch(/; legal hold overridden: Inspection closed; release filed\.\nResidue count: 0\n$/);
});

test("bad input is told in one line and changes nothing", async () => {
  const person = await plant();
  const unverified = (await rootPool().query(
    "insert into app_public.data_subject_requests (kind, client_id) values ('erasure', $1) returning id", [person.coach.clientId])).rows[0].id;
  const cases: Array<[string[], string]> = [
    [[], "Usage: custodian gdpr erase --client ID --reason TEXT [--override-reason TEXT] | custodian gdpr erase --request ID [--override-reason TEXT]"],
    [["--client", person.clientId], "--reason is required with --client: say how the person's identity was verified."],
    [["--client", "nobody", "--reason", "Checked"], '--client takes an id (a UUID), got "nobody".'],
    [["--client", "00000000-0000-4000-8000-000000000000", "--reason", "Checked"], "There is no client 00000000-0000-4000-8000-000000000000."],
    [["--client", person.clientId, "--reason", " x "], "A data-subject request's verification (--reason) must be 3 to 2,000 characters, not only spaces."],
    [["--request", unverified], `Request ${unverified} is received; only a verified (or in-progress) erasure request is run (verify the requester's identity first; a completed or rejected request stays as it is).`],
    [["--request", unverified, "--reason", "Checked"], "--reason goes with --client; a request given with --request was verified already."],
  ];
  for (const [args, message] of cases) {
    const result = await erase(args);
    expect({ args, code: result.code, stderr: result.stderr }).toEqual({ args, code: 1, stderr: `custodian: ${message}\n` });
  }
  const left = await rootPool().query(
    "select count(*)::int as requests, (select full_name from app_public.clients where id = $1) as name from app_public.data_subject_requests where client_id = $1",
    [person.clientId]);
  expect(left.rows).toEqual([{ requests: 0, name: person.identifiers[0] }]);
});
