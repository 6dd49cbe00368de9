import { closeRootPool, errorOf, rootPool, withRootDb } from "../support/db.ts";
import { createUser, type User } from "../support/fixtures.ts";
import { graphql, login } from "../support/http.ts";

// A rate's effectiveFrom is an instant the API can say: GraphQL's Datetime
// has no infinity (a rate from '-infinity' made providerRates fail), so a
// rate recorded without a date starts at the earliest one, and infinity is
// refused in words, by every writer.

let admin: User;
const provider = `prov-instants-${Date.now().toString(36)}`;

beforeAll(async () => {
  admin = await createUser(rootPool(), "admin", "rate-instants-admin");
});
afterAll(async () => {
  await rootPool().query("delete from app_public.provider_rates where provider = $1", [provider]);
  await rootPool().query("delete from app_public.users where id = $1", [admin.id]);
  await closeRootPool();
});

test("a rate recorded without effectiveFrom has always applied, and providerRates reads it; one from a date follows it", async () => {
  const token = await login(admin.email);
  const created = await graphql(
    `mutation ($provider: String!) { createProviderRate(input: { providerRate: { provider: $provider, model: "m1", costPerMinuteMinor: "0.5" } }) { providerRate { effectiveFrom } } }`,
    { provider }, token);
  expect(created.body.errors).toBeUndefined();
  expect(Date.parse(created.body.data!.createProviderRate.providerRate.effectiveFrom)).toBe(Date.parse("0001-01-01T00:00:00Z"));
  await rootPool().query("insert into app_public.provider_rates (provider, model, cost_per_minute_minor, effective_from) values ($1, 'm1', 0.7, '2026-03-01T00:00:00Z')", [provider]);

  const read = await graphql(
    `query ($provider: String!) { providerRates(condition: { provider: $provider }, orderBy: EFFECTIVE_FROM_ASC) { nodes { costPerMinuteMinor effectiveFrom } } }`,
    { provider }, token);
  expect(read.body.errors).toBeUndefined();
  expect(read.body.data!.providerRates.nodes.map((rate: { costPerMinuteMinor: string; effectiveFrom: string }) =>
    [rate.costPerMinuteMinor, Date.parse(rate.effectiveFrom)])).toEqual([["0.5000", Date.parse("0001-01-01T00:00:00Z")], ["0.7000", Date.parse("2026-03-01T00:00:00Z")]]);
});

test("infinity is refused in words for every writer, the owner included", () =>
  withRootDb(async (client) => {
    for (const instant of ["-infinity", "infinity"]) {
      const refused = await errorOf(client,
        "insert into app_public.provider_rates (provider, model, cost_per_minute_minor, effective_from) values ($1, 'm2', 1, $2)", [provider, instant]);
      expect(refused?.code).toBe("23514");
      expect(refused?.message).toMatch(/provider_rates_effective_from_finite/);
    }
    const token = await login(admin.email);
    const viaApi = await graphql(
      `mutation ($provider: String!) { createProviderRate(input: { providerRate: { provider: $provider, model: "m3", costPerMinuteMinor: "1", effectiveFrom: "infinity" } }) { providerRate { rowId } } }`,
      { provider }, token);
    expect(viaApi.body.errors?.[0]?.message).toBe(
      "A provider rate's effectiveFrom must be an instant, not infinity; a rate that has always applied starts at 0001-01-01T00:00:00Z (the default).");
    expect(viaApi.body.data?.createProviderRate ?? null).toBeNull();
  }));
