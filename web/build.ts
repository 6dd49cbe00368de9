// `npm install` and `npm ci` build the console (the prepare script); `custodian start` rebuilds it when stale.
import { buildConsole } from "../src/server/console.ts";

await buildConsole();
