import fs from "node:fs";
import path from "node:path";
import { projectRoot } from "../../src/paths.ts";

// docs/security.md maps each promise to the test files that prove it. A
// renamed or removed test file would leave a promise unproved in silence.

const doc = fs.readFileSync(path.join(projectRoot, "docs", "security.md"), "utf8");
const landing = /<!-- lands with issue 18 part (limits|persisted|fuzz|faults) -->/;

/** Each test file the document names (`test/....test.ts`, or a folder's `*.test.ts`), with whether its line says it lands with issue 18. */
function namedTestFiles(): Array<{ file: string; landing: boolean }> {
  return doc.split("\n").flatMap((line) =>
    [...line.matchAll(/`(test\/[a-z0-9/*._-]+\.test\.ts)`/g)].map((match) => ({ file: match[1]!, landing: landing.test(line) })),
  );
}

function exists(file: string): boolean {
  if (!file.includes("*")) return fs.existsSync(path.join(projectRoot, file));
  const folder = path.join(projectRoot, path.dirname(file));
  return fs.existsSync(folder) && fs.readdirSync(folder).some((name) => name.endsWith(".test.ts"));
}

describe("docs/security.md", () => {
  test("every test file it names as proof exists, apart from those marked as landing with issue 18", () => {
    const named = namedTestFiles();
    expect(named.length).toBeGreaterThan(40);
    const missing = named.filter((entry) => !entry.landing && !exists(entry.file)).map((entry) => entry.file);
    expect(missing).toEqual([]);
  });

  test("each test marked as landing with issue 18 names its part, so the integrator can check it", () => {
    const marked = doc.split("\n").filter((line) => /^\|/.test(line) && line.includes("<!-- lands with"));
    expect(marked.length).toBeGreaterThan(0);
    for (const line of marked) expect([line, landing.test(line)]).toEqual([line, true]);
  });
});
