// Latencies per named operation (a GraphQL operation, a REST route), kept whole
// so that the percentiles are exact.

export class Latencies {
  readonly #samples = new Map<string, number[]>();

  record(name: string, ms: number): void {
    let samples = this.#samples.get(name);
    if (!samples) this.#samples.set(name, (samples = []));
    samples.push(ms);
  }

  /** Times `work` under `name`, whether it succeeds or not. */
  async time<T>(name: string, work: () => Promise<T>): Promise<T> {
    const started = performance.now();
    try {
      return await work();
    } finally {
      this.record(name, performance.now() - started);
    }
  }

  /** p50, p95 and p99 (ms, nearest rank) and the count, per name, names sorted. */
  summary(): Record<string, { count: number; p50: number; p95: number; p99: number }> {
    const rank = (sorted: number[], share: number) => Number(sorted[Math.max(0, Math.ceil(sorted.length * share) - 1)]!.toFixed(1));
    return Object.fromEntries(
      [...this.#samples.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([name, samples]) => {
        const sorted = [...samples].sort((a, b) => a - b);
        return [name, { count: sorted.length, p50: rank(sorted, 0.5), p95: rank(sorted, 0.95), p99: rank(sorted, 0.99) }];
      }),
    );
  }
}
