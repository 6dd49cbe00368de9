import fs from "node:fs";
import path from "node:path";
import { authenticatorUrl } from "../../src/db/connection-strings.ts";
import { projectRoot } from "../../src/paths.ts";
import { schemaSdl } from "../../src/server/schema-sdl.ts";
import { TEST_AUTHENTICATOR_PASSWORD } from "../support/environment.ts";

test("the committed schema.graphql matches the schema the API serves (run `npm run schema:export` if not)", async () => {
  const live = await schemaSdl(authenticatorUrl(process.env.TEST_DATABASE_URL!, TEST_AUTHENTICATOR_PASSWORD));
  const committed = fs.readFileSync(path.join(projectRoot, "schema.graphql"), "utf8");
  expect(live).toBe(committed);
});
