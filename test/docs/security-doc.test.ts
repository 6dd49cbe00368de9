import fs from "node:fs";
import path from "node:path";
import { projectRoot } from "../../src/paths.ts";

// docs/security.md maps each promise to the test files that prove it. A
// renamed or removed test file would leave a promise unproved in silence.

const doc = fs.readFileSync(path.join(projectRoot, "docs", "security.md"), "utf8");
/** Each test file the document names (`test/....test.ts`, or a folder's `*.test.ts`). */
function namedTestFiles(): string[] {
  return [...doc.matchAll(/`(test\/[a-z0-9/*._-]+\.test\.ts)`/g)].map((match) => match[1]!);
}

function exists(file: string): boolean {
  if (!file.includes("*")) return fs.existsSync(path.join(projectRoot, file));
  const folder = path.join(projectRoot, path.dirname(file));
  return fs.existsSync(folder) && fs.readdirSync(folder).some((name) => name.endsWith(".test.ts"));
}

test("every test file docs/security.md names as proof exists", () => {
  const named = namedTestFiles();
  expect(named.length).toBeGreaterThan(40);
  expect(named.filter((file) => !exists(file))).toEqual([]);
});
