// Jest transform: the same type stripping Node 24 applies when it runs the
// project's .ts files, so tests run exactly the code production runs.
import { stripTypeScriptTypes } from "node:module";

export default {
  process(source, filename) {
    return { code: stripTypeScriptTypes(source, { mode: "strip", sourceUrl: filename }) };
  },
};
