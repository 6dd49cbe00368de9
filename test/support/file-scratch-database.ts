import { withScratchDatabase } from "./scratch-database.ts";

export interface ScratchDatabase {
  url: string;
  /** Drops the database (afterAll). */
  drop(): Promise<void>;
}

/**
 * A new, empty database on the test server that outlives one test, for a test
 * file whose tests share it (beforeAll/afterAll); withScratchDatabase with
 * its callback held open until drop().
 */
export function openScratchDatabase(): Promise<ScratchDatabase> {
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  return new Promise((resolve, reject) => {
    const scratch = withScratchDatabase(async (url) => {
      resolve({
        url,
        drop: async () => {
          release();
          await scratch;
        },
      });
      await released;
    });
    scratch.catch(reject);
  });
}
