// Counters and histograms for the data path, kept as plain numbers and rendered through the
// same prom-client registry as every other metric. prom-client's own take a labels object per
// update, then validate it, build a key string and allocate a closure, every time; the three
// per proxied request cost 9–15 µs of CPU in A/B runs of the data-path benchmark.

/** What prom-client's registry reads from a metric when it renders /metrics (text or JSON). */
export interface RegistryMetric {
  readonly name: string;
  readonly help: string;
  readonly type: 'counter' | 'histogram';
  readonly aggregator: 'sum';
  get(): Promise<{ name: string; help: string; type: string; aggregator: string; values: MetricValue[] }>;
}

interface MetricValue {
  labels: Record<string, string | number>;
  value: number;
  metricName?: string;
  /** Rendered after `labels`: prom-client's own histograms put `le` first, then the series' labels. */
  sharedLabels?: Record<string, string>;
  exemplar?: null;
}

/** Label values to one series each, one Map level per label, so any value is kept apart exactly. */
class SeriesTable<S> {
  private readonly root = new Map<string, unknown>();
  private readonly list: S[] = [];

  constructor(
    private readonly labelNames: readonly string[],
    private readonly create: (labels: Record<string, string>) => S,
  ) {
    // The walk below keys the last level by the last label: a series without labels has none.
    if (labelNames.length === 0) throw new Error('a labelled series needs at least one label');
  }

  get(values: readonly string[]): S {
    let level = this.root;
    const last = values.length - 1;
    for (let i = 0; i < last; i++) {
      const key = values[i] as string;
      let next = level.get(key) as Map<string, unknown> | undefined;
      if (next === undefined) {
        next = new Map();
        level.set(key, next);
      }
      level = next;
    }
    const key = values[last] as string;
    let series = level.get(key) as S | undefined;
    if (series === undefined) {
      series = this.create(Object.fromEntries(this.labelNames.map((n, i) => [n, values[i] as string])));
      level.set(key, series);
      this.list.push(series);
    }
    return series;
  }

  all(): readonly S[] {
    return this.list;
  }
}

interface CounterSeries { labels: Record<string, string>; value: number }

export class LabelledCounter implements RegistryMetric {
  readonly type = 'counter';
  readonly aggregator = 'sum';
  private readonly table: SeriesTable<CounterSeries>;

  constructor(readonly name: string, readonly help: string, labelNames: readonly string[]) {
    this.table = new SeriesTable(labelNames, (labels) => ({ labels, value: 0 }));
  }

  inc(...values: string[]): void {
    this.table.get(values).value += 1;
  }

  get(): ReturnType<RegistryMetric['get']> {
    const values = this.table.all().map((s) => ({ labels: s.labels, value: s.value }));
    return Promise.resolve({ name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values });
  }
}

interface HistogramSeries { labels: Record<string, string>; counts: Float64Array; sum: number; count: number }

export class LabelledHistogram implements RegistryMetric {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private readonly table: SeriesTable<HistogramSeries>;

  constructor(readonly name: string, readonly help: string, labelNames: readonly string[], private readonly buckets: readonly number[]) {
    if (buckets.some((b, i) => i > 0 && b <= (buckets[i - 1] as number))) throw new Error(`${name}: buckets must increase`);
    this.table = new SeriesTable(labelNames, (labels) => ({ labels, counts: new Float64Array(buckets.length), sum: 0, count: 0 }));
  }

  observe(value: number, ...values: string[]): void {
    const series = this.table.get(values);
    const buckets = this.buckets;
    // Counted in the first bucket that holds it; rendering makes the counts cumulative.
    for (let i = 0; i < buckets.length; i++) {
      if (value <= (buckets[i] as number)) {
        series.counts[i] = (series.counts[i] ?? 0) + 1;
        break;
      }
    }
    series.sum += value;
    series.count += 1;
  }

  /** For the text exposition: `le` in `labels`, the series' own in `sharedLabels`, as prom-client renders them. */
  getForPromString(): ReturnType<RegistryMetric['get']> {
    const values: MetricValue[] = [];
    for (const s of this.table.all()) {
      let cumulative = 0;
      this.buckets.forEach((le, i) => {
        cumulative += s.counts[i] ?? 0;
        values.push({ labels: { le }, sharedLabels: s.labels, value: cumulative, metricName: `${this.name}_bucket`, exemplar: null });
      });
      values.push({ labels: { le: '+Inf' }, sharedLabels: s.labels, value: s.count, metricName: `${this.name}_bucket`, exemplar: null });
      values.push({ labels: {}, sharedLabels: s.labels, value: s.sum, metricName: `${this.name}_sum` });
      values.push({ labels: {}, sharedLabels: s.labels, value: s.count, metricName: `${this.name}_count` });
    }
    return Promise.resolve({ name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values });
  }

  /** For JSON (getMetricsAsJSON): every value's labels in one object. */
  async get(): ReturnType<RegistryMetric['get']> {
    const metric = await this.getForPromString();
    const values = metric.values.map(({ sharedLabels, ...v }) => ({ ...v, labels: { ...v.labels, ...sharedLabels } }));
    return { ...metric, values };
  }
}
