// Ends the run with the plain closing line CI reads: "tests: N passed, N failed"
// (on stderr, after the default reporter's summary, which Jest also writes there).
export default class SummaryReporter {
  onRunComplete(_contexts, results) {
    const skipped = results.numPendingTests + results.numTodoTests;
    process.stderr.write(
      `tests: ${results.numPassedTests} passed, ${results.numFailedTests} failed${skipped ? `, ${skipped} skipped` : ""}\n`,
    );
  }
}
