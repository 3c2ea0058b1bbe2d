/** Collects benchmark figures: human lines on stdout and one JSON record per section (for notes and comparisons). */
export class BenchReport {
  readonly records: Record<string, unknown> = {};

  line(text: string): void {
    process.stdout.write(`${text}\n`);
  }

  record(section: string, data: unknown): void {
    this.records[section] = data;
  }
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export function rate(count: number, seconds: number): number {
  return count / seconds;
}
