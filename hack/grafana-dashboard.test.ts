// docs/grafana/keda-http-addon.json against the services as they run: its structure (ids, grid,
// datasource variable, targets), and every metric and label its PromQL names, compared with what a
// real `keda-http interceptor --from-file` and `keda-http scaler --from-file` export on /metrics
// after traffic that creates the labelled series (200, 404, a held request, an overflow 503, a
// 504 after the readiness timeout, a 502 from a closed port). Renaming a metric or a label in the
// code without updating the dashboard fails here.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import {
  interceptorSlices,
  startInterceptorProcess,
  startScalerProcess,
  writeObjects,
  type InterceptorProcess,
  type ScalerProcess,
} from '../addon/scaler/testing/processes.ts';
import { refusingPort } from '../addon/interceptor/testing/harness.ts';
import { eventually } from '../tests/harness/eventually.ts';

const poll = { timeoutMs: 20_000, intervalMs: 100 };

const dashboardPath = new URL('../docs/grafana/keda-http-addon.json', import.meta.url);

// ------------------------------------------------------------------------------------------------
// A small PromQL reader: enough of the grammar to find metric names, label matchers, grouping
// labels and the labels label_replace creates. Unknown syntax fails loudly rather than passing.

const aggregators = new Set([
  'sum',
  'min',
  'max',
  'avg',
  'group',
  'stddev',
  'stdvar',
  'count',
  'count_values',
  'bottomk',
  'topk',
  'quantile',
  'limitk',
  'limit_ratio',
]);
const functions = new Set([
  'abs',
  'absent',
  'absent_over_time',
  'avg_over_time',
  'ceil',
  'changes',
  'clamp',
  'clamp_max',
  'clamp_min',
  'count_over_time',
  'day_of_month',
  'day_of_week',
  'days_in_month',
  'delta',
  'deriv',
  'exp',
  'floor',
  'histogram_quantile',
  'hour',
  'idelta',
  'increase',
  'irate',
  'label_join',
  'label_replace',
  'last_over_time',
  'ln',
  'log2',
  'log10',
  'max_over_time',
  'min_over_time',
  'minute',
  'month',
  'predict_linear',
  'quantile_over_time',
  'rate',
  'resets',
  'round',
  'scalar',
  'sgn',
  'sort',
  'sort_desc',
  'sqrt',
  'stddev_over_time',
  'stdvar_over_time',
  'sum_over_time',
  'time',
  'timestamp',
  'vector',
  'year',
]);
const groupingKeywords = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right']);
const binaryKeywords = new Set(['and', 'or', 'unless', 'bool', 'atan2']);

type Token = { kind: 'ident' | 'string' | 'number' | 'range' | 'punct'; text: string };

function tokenize(expr: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < expr.length) {
    const c = expr[i] as string;
    if (/\s/.test(c)) {
      i++;
    } else if (c === '"' || c === "'" || c === '`') {
      let j = i + 1;
      let value = '';
      while (j < expr.length && expr[j] !== c) {
        if (expr[j] === '\\' && c !== '`') j++;
        value += expr[j];
        j++;
      }
      assert.ok(j < expr.length, `unterminated string in ${expr}`);
      tokens.push({ kind: 'string', text: value });
      i = j + 1;
    } else if (c === '[') {
      const j = expr.indexOf(']', i);
      assert.ok(j > i, `unterminated range in ${expr}`);
      tokens.push({ kind: 'range', text: expr.slice(i, j + 1) });
      i = j + 1;
    } else if (/[a-zA-Z_:]/.test(c)) {
      const m = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(expr.slice(i)) as RegExpExecArray;
      tokens.push({ kind: 'ident', text: m[0] });
      i += m[0].length;
    } else if (/[0-9.]/.test(c)) {
      const m = /^[0-9.]+(e[+-]?[0-9]+)?/i.exec(expr.slice(i)) as RegExpExecArray;
      tokens.push({ kind: 'number', text: m[0] });
      i += m[0].length;
    } else if ('(){},'.includes(c)) {
      tokens.push({ kind: 'punct', text: c });
      i++;
    } else if (/[-+*/%^=!<>~]/.test(c)) {
      const m = /^(==|!=|>=|<=|=~|!~|[-+*/%^=<>])/.exec(expr.slice(i));
      assert.ok(m, `unexpected operator at ${expr.slice(i)}`);
      tokens.push({ kind: 'punct', text: m[0] });
      i += m[0].length;
    } else {
      assert.fail(`unexpected character ${JSON.stringify(c)} in ${expr}`);
    }
  }
  return tokens;
}

interface Selector {
  metric: string;
  matchers: { label: string; op: string; value: string }[];
}

interface Refs {
  selectors: Selector[];
  /** Labels in by/without/on/ignoring/group_left/group_right lists. */
  grouping: Set<string>;
  /** Labels label_replace/label_join write (and read). */
  created: Set<string>;
  read: Set<string>;
}

/** Grafana's variables, replaced as Grafana does before the query reaches Prometheus. */
function interpolate(expr: string, variables: Set<string>): string {
  return expr.replace(/\$\{?([a-zA-Z_][a-zA-Z0-9_]*)\}?/g, (_m, name: string) => {
    if (['__rate_interval', '__range', '__interval'].includes(name)) return '1m';
    assert.ok(variables.has(name), `unknown dashboard variable $${name} in ${expr}`);
    return '.+';
  });
}

function promqlRefs(expr: string): Refs {
  const t = tokenize(expr);
  const refs: Refs = { selectors: [], grouping: new Set(), created: new Set(), read: new Set() };
  let depth = 0;
  for (const c of t) {
    if (c.text === '(' || c.text === '{') depth++;
    if (c.text === ')' || c.text === '}') depth--;
    assert.ok(depth >= 0, `unbalanced brackets in ${expr}`);
  }
  assert.equal(depth, 0, `unbalanced brackets in ${expr}`);

  // label_replace(v, "dst", "replacement", "src", "regex"): which string arguments are labels.
  const labelFns: { depth: number; commas: number; fn: string }[] = [];
  let level = 0;
  for (let i = 0; i < t.length; i++) {
    const tok = t[i] as Token;
    const next = t[i + 1];
    if (tok.text === '(') level++;
    else if (tok.text === ')') {
      if (labelFns.at(-1)?.depth === level) labelFns.pop();
      level--;
    } else if (tok.text === ',' && labelFns.at(-1)?.depth === level)
      (labelFns.at(-1) as { commas: number }).commas++;
    else if (tok.kind === 'string') {
      const fn = labelFns.at(-1);
      if (fn?.depth === level) {
        if (fn.commas === 1) refs.created.add(tok.text);
        if (fn.fn === 'label_replace' && fn.commas === 3 && tok.text !== '') refs.read.add(tok.text);
        if (fn.fn === 'label_join' && fn.commas >= 3) refs.read.add(tok.text);
      }
    }
    if (tok.kind !== 'ident') continue;
    const name = tok.text;
    if (groupingKeywords.has(name)) {
      if (next?.text !== '(') {
        assert.ok(name === 'group_left' || name === 'group_right', `${name} without a label list in ${expr}`);
        continue;
      }
      let j = i + 2;
      for (; (t[j] as Token).text !== ')'; j++) {
        const l = t[j] as Token;
        if (l.text === ',') continue;
        assert.equal(l.kind, 'ident', `label list of ${name} in ${expr}`);
        refs.grouping.add(l.text);
      }
      i = j;
      continue;
    }
    if (binaryKeywords.has(name) || name === 'offset') continue;
    if (next?.text === '(' || aggregators.has(name)) {
      assert.ok(
        functions.has(name) || aggregators.has(name),
        `unknown PromQL function or aggregator ${name} in ${expr}`,
      );
      if (name === 'label_replace' || name === 'label_join')
        labelFns.push({ depth: level + 1, commas: 0, fn: name });
      continue;
    }
    // A metric name, with or without matchers.
    const selector: Selector = { metric: name, matchers: [] };
    if (next?.text === '{') {
      let j = i + 2;
      while ((t[j] as Token).text !== '}') {
        const label = t[j] as Token;
        const op = t[j + 1] as Token;
        const value = t[j + 2] as Token;
        assert.equal(label.kind, 'ident', `label name in ${expr}`);
        assert.ok(['=', '!=', '=~', '!~'].includes(op.text), `matcher operator in ${expr}`);
        assert.equal(value.kind, 'string', `matcher value in ${expr}`);
        selector.matchers.push({ label: label.text, op: op.text, value: value.text });
        j += 3;
        if ((t[j] as Token).text === ',') j++;
      }
      i = j;
    }
    refs.selectors.push(selector);
  }
  for (let i = 0; i < t.length; i++) {
    // A selector without a metric name (`{job="x"}`) would escape the name check.
    if (t[i]?.text === '{')
      assert.equal(t[i - 1]?.kind, 'ident', `selector without a metric name in ${expr}`);
  }
  return refs;
}

// ------------------------------------------------------------------------------------------------
// The dashboard.

interface Target {
  refId?: string;
  expr?: string;
  legendFormat?: string;
  datasource?: { type?: string; uid?: string };
}
interface Panel {
  id?: number;
  type?: string;
  title?: string;
  gridPos?: { x: number; y: number; w: number; h: number };
  datasource?: { type?: string; uid?: string };
  targets?: Target[];
  panels?: Panel[];
}
interface Variable {
  name: string;
  type: string;
  query?: string | { query?: string };
  datasource?: { type?: string; uid?: string };
}
interface Dashboard {
  title?: string;
  uid?: string;
  schemaVersion?: number;
  panels: Panel[];
  templating: { list: Variable[] };
}

const dashboard = JSON.parse(await readFile(dashboardPath, 'utf8')) as Dashboard;
const allPanels = dashboard.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
const dataPanels = allPanels.filter((p) => p.type !== 'row');
const variableNames = new Set(dashboard.templating.list.map((v) => v.name));
const datasourceVar = dashboard.templating.list.find((v) => v.type === 'datasource');

interface Query {
  where: string;
  expr: string;
  legend?: string;
}

const queries: Query[] = [
  ...dataPanels.flatMap((p) =>
    (p.targets ?? []).map((t) => ({
      where: `panel ${p.id} "${p.title}" target ${t.refId}`,
      expr: t.expr ?? '',
      ...(t.legendFormat !== undefined ? { legend: t.legendFormat } : {}),
    })),
  ),
];

/** `label_values(metric{...}, label)` variable queries, as selectors plus the label they list. */
const variableQueries = dashboard.templating.list
  .filter((v) => v.type === 'query')
  .map((v) => {
    const q = typeof v.query === 'string' ? v.query : (v.query?.query ?? '');
    const m = /^label_values\((.+),\s*([a-zA-Z_][a-zA-Z0-9_]*)\)$/.exec(q);
    assert.ok(m, `variable ${v.name}: expected label_values(selector, label), got ${q}`);
    return { name: v.name, selector: m[1] as string, label: m[2] as string };
  });

test('dashboard structure: importable JSON with unique panel ids, a sane grid and a datasource variable', () => {
  assert.equal(typeof dashboard.title, 'string');
  assert.equal(typeof dashboard.uid, 'string');
  assert.ok((dashboard.schemaVersion ?? 0) >= 36, `schemaVersion ${dashboard.schemaVersion}`);

  assert.ok(datasourceVar, 'a datasource template variable');
  assert.equal(datasourceVar.name, 'DS_PROMETHEUS');
  assert.equal(datasourceVar.query, 'prometheus');
  const dsRef = `\${${datasourceVar.name}}`;

  const ids = allPanels.map((p) => p.id);
  assert.ok(
    ids.every((id) => Number.isInteger(id) && (id as number) > 0),
    'every panel has an integer id',
  );
  assert.equal(new Set(ids).size, ids.length, `duplicate panel ids: ${ids.join(',')}`);

  const cells = new Map<string, string>();
  for (const p of allPanels) {
    const g = p.gridPos;
    assert.ok(g, `panel ${p.id} has a gridPos`);
    for (const k of ['x', 'y', 'w', 'h'] as const)
      assert.ok(Number.isInteger(g[k]), `panel ${p.id} gridPos.${k}`);
    assert.ok(
      g.x >= 0 && g.y >= 0 && g.w > 0 && g.h > 0 && g.x + g.w <= 24,
      `panel ${p.id} gridPos ${JSON.stringify(g)}`,
    );
    for (let x: number = g.x; x < g.x + g.w; x++)
      for (let y: number = g.y; y < g.y + g.h; y++) {
        const other = cells.get(`${x},${y}`);
        assert.equal(other, undefined, `panel ${p.id} overlaps panel ${other} at ${x},${y}`);
        cells.set(`${x},${y}`, String(p.id));
      }
  }

  assert.ok(dataPanels.length >= 10, `${dataPanels.length} panels`);
  for (const p of dataPanels) {
    assert.ok(p.title, `panel ${p.id} has a title`);
    assert.deepEqual(p.datasource, { type: 'prometheus', uid: dsRef }, `panel ${p.id} datasource`);
    assert.ok((p.targets ?? []).length > 0, `panel ${p.id} "${p.title}" has targets`);
    const refIds = (p.targets ?? []).map((t) => t.refId);
    assert.equal(new Set(refIds).size, refIds.length, `panel ${p.id} refIds unique`);
    for (const t of p.targets ?? []) {
      assert.ok(
        typeof t.expr === 'string' && t.expr.trim() !== '',
        `panel ${p.id} target ${t.refId} has an expr`,
      );
      assert.deepEqual(t.datasource, { type: 'prometheus', uid: dsRef }, `panel ${p.id} target datasource`);
    }
  }
  for (const v of dashboard.templating.list.filter((v) => v.type === 'query'))
    assert.deepEqual(v.datasource, { type: 'prometheus', uid: dsRef }, `variable ${v.name} datasource`);

  // What the panels cover, by the metrics they read.
  const used = new Set(
    queries.flatMap((q) => promqlRefs(interpolate(q.expr, variableNames)).selectors.map((s) => s.metric)),
  );
  for (const m of [
    'interceptor_request_count_total',
    'interceptor_request_duration_seconds_bucket',
    'interceptor_request_concurrency',
    'interceptor_pending_requests',
    'interceptor_pending_rejected_total',
    'interceptor_cold_start_wait_seconds_bucket',
    'interceptor_cold_start_wait_seconds_count',
    'scaler_pinger_fetch_duration_seconds_bucket',
    'scaler_pinger_fetch_errors_total',
    'scaler_queue_watch_events_total',
    'scaler_stream_is_active_streams',
    'process_cpu_seconds_total',
    'process_resident_memory_bytes',
  ])
    assert.ok(used.has(m), `no panel reads ${m}`);
});

test('the PromQL reader finds names, matchers, grouping and label_replace labels', () => {
  const r = promqlRefs(
    'sum by (a, b) (rate(m_total{x="1", y=~"p|q"}[5m])) * on (instance) group_left (c) label_replace(group by (instance) (g), "c", "v", "", "") or vector(0) > bool 0',
  );
  assert.deepEqual(
    r.selectors.map((s) => s.metric),
    ['m_total', 'g'],
  );
  assert.deepEqual(r.selectors[0]?.matchers, [
    { label: 'x', op: '=', value: '1' },
    { label: 'y', op: '=~', value: 'p|q' },
  ]);
  assert.deepEqual([...r.grouping].sort(), ['a', 'b', 'c', 'instance']);
  assert.deepEqual([...r.created], ['c']);
  assert.throws(() => promqlRefs('sum(rat(m[1m]))'), /unknown PromQL function/);
  assert.throws(() => promqlRefs('sum(m'), /unbalanced/);
  assert.throws(() => promqlRefs('{__name__="m"}'), /without a metric name/);
});

// ------------------------------------------------------------------------------------------------
// The real services.

/** metric name (as exposed, e.g. x_bucket) -> label names seen on its samples. */
type Exposed = Map<string, Set<string>>;

function parseExposition(text: string): Exposed {
  const out: Exposed = new Map();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+\S+/.exec(line);
    assert.ok(m, `exposition line: ${line}`);
    const labels = out.get(m[1] as string) ?? new Set<string>();
    for (const l of (m[3] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="(?:[^"\\]|\\.)*"/g))
      labels.add(l[1] as string);
    out.set(m[1] as string, labels);
  }
  return out;
}

async function scrape(port: number): Promise<Exposed> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  assert.equal(res.status, 200);
  return parseExposition(await res.text());
}

function proxied(port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/', headers: { host } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
  });
}

function route(name: string, host: string, service: string, extra: Record<string, unknown> = {}): object {
  return {
    apiVersion: 'http.keda.sh/v1beta1',
    kind: 'InterceptorRoute',
    metadata: { name, namespace: 'shop' },
    spec: {
      target: { service, port: 80 },
      rules: [{ hosts: [host] }],
      scalingMetric: { concurrency: { targetValue: 1 } },
      ...extra,
    },
  };
}
function service(name: string): object {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: 'shop' },
    spec: { ports: [{ name: 'http', port: 80 }] },
  };
}
function slice(svc: string, port: number): object {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name: `${svc}-1`, namespace: 'shop', labels: { 'kubernetes.io/service-name': svc } },
    addressType: 'IPv4',
    ports: [{ name: 'http', port, protocol: 'TCP' }],
    endpoints: [{ addresses: ['127.0.0.1'], conditions: { ready: true } }],
  };
}

/** Labels Prometheus attaches to every scraped series. */
const targetLabels = ['job', 'instance'];

let dir: string;
let backend: http.Server;
let interceptor: InterceptorProcess;
let scaler: ScalerProcess;
let exposed: Exposed;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'grafana-dashboard-'));
  backend = http.createServer((_req, res) => res.end('ok'));
  await new Promise<void>((r) => backend.listen(0, '127.0.0.1', r));
  const backendPort = (backend.address() as AddressInfo).port;
  // A port nothing listens on, for a 502.
  const closedPort = await refusingPort();

  const objects = [
    route('web', 'web.test', 'web'),
    service('web'),
    slice('web', backendPort),
    // No endpoints: requests are held; one at a time, then 504 after the readiness timeout.
    route('cold', 'cold.test', 'cold', {
      coldStart: { maxPendingRequests: 1 },
      timeouts: { readiness: '1s' },
    }),
    service('cold'),
    route('broken', 'broken.test', 'broken', { timeouts: { request: '1s' } }),
    service('broken'),
    slice('broken', closedPort),
  ];
  const interceptorFile = join(dir, 'interceptor.yaml');
  await writeObjects(interceptorFile, objects);
  interceptor = await startInterceptorProcess(interceptorFile, {
    env: { OTEL_PROM_EXPORTER_ENABLED: 'true', OTEL_PROM_EXPORTER_PORT: '0', KEDA_HTTP_SHUTDOWN_DELAY: '0s' },
  });
  const interceptorMetricsPort = Number(
    (await interceptor.waitForLog((l) => l['message'] === 'interceptor started'))['metricsPort'],
  );
  assert.ok(interceptorMetricsPort > 0, 'interceptor metrics port');

  const scalerFile = join(dir, 'scaler.yaml');
  await writeObjects(scalerFile, [...objects, ...interceptorSlices([interceptor.adminPort])]);
  scaler = await startScalerProcess(scalerFile, { KEDA_HTTP_QUEUE_TICK_DURATION: '200ms' });
  // The scaler's change stream to the interceptor, so that requests become stream events.
  await eventually(
    'scaler connected to /queue/watch',
    async () => {
      const t = await (await fetch(`http://127.0.0.1:${scaler.metricsPort}/metrics`)).text();
      return /^scaler_queue_watch_connected 1$/m.test(t) ? t : undefined;
    },
    poll,
  );

  const p = interceptor.proxyPort;
  assert.equal(await proxied(p, 'web.test'), 200);
  assert.equal(await proxied(p, 'nowhere.test'), 404);
  const held = proxied(p, 'cold.test');
  await eventually(
    'a held request',
    async () => {
      const t = await (await fetch(`http://127.0.0.1:${interceptorMetricsPort}/metrics`)).text();
      return /^interceptor_pending_requests\{[^}]*route_name="cold"[^}]*\} 1$/m.test(t) ? t : undefined;
    },
    poll,
  );
  assert.equal(await proxied(p, 'cold.test'), 503, 'over the route hold limit');
  assert.equal(await held, 504, 'readiness timeout');
  assert.equal(await proxied(p, 'broken.test'), 502, 'nothing listens on the endpoint');

  const scalerSeen = await eventually(
    'scaler series',
    async () => {
      const e = await scrape(scaler.metricsPort);
      return e.has('scaler_queue_watch_events_total') && e.has('scaler_pinger_fetch_duration_seconds_bucket')
        ? e
        : undefined;
    },
    poll,
  );
  const interceptorSeen = await scrape(interceptorMetricsPort);
  exposed = new Map();
  for (const source of [interceptorSeen, scalerSeen])
    for (const [name, labels] of source)
      exposed.set(name, new Set([...(exposed.get(name) ?? []), ...labels]));
});

after(async () => {
  await Promise.all([interceptor?.kill(), scaler?.kill()]);
  await new Promise((r) => backend?.close(r));
  if (dir) await rm(dir, { recursive: true, force: true });
});

function checkSelector(where: string, s: Selector): void {
  const labels = exposed.get(s.metric);
  assert.ok(labels, `${where}: ${s.metric} is not exported by the interceptor or the scaler`);
  for (const m of s.matchers)
    assert.ok(
      labels.has(m.label) ||
        targetLabels.includes(m.label) ||
        (m.label === 'le' && s.metric.endsWith('_bucket')),
      `${where}: ${s.metric} has no label ${m.label} (it has ${[...labels].join(', ') || 'none'})`,
    );
}

test('every metric and label the panels query is exported by a running interceptor or scaler', () => {
  assert.ok(queries.length > 0);
  for (const q of queries) {
    const refs = promqlRefs(interpolate(q.expr, variableNames));
    assert.ok(refs.selectors.length > 0, `${q.where}: no metric in ${q.expr}`);
    const available = new Set([...targetLabels, ...refs.created]);
    for (const s of refs.selectors) {
      checkSelector(q.where, s);
      for (const l of exposed.get(s.metric) ?? []) available.add(l);
    }
    for (const l of [...refs.grouping, ...refs.read])
      assert.ok(available.has(l), `${q.where}: label ${l} is on none of its metrics (${q.expr})`);
    for (const [, l] of (q.legend ?? '').matchAll(/\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}/g))
      assert.ok(available.has(l as string), `${q.where}: legend label ${l} is on none of its metrics`);
  }
});

test('every variable query lists a label that its metric has', () => {
  assert.ok(variableQueries.length > 0);
  for (const v of variableQueries) {
    const refs = promqlRefs(interpolate(v.selector, variableNames));
    assert.equal(refs.selectors.length, 1, `variable ${v.name}`);
    const s = refs.selectors[0] as Selector;
    checkSelector(`variable ${v.name}`, s);
    assert.ok(exposed.get(s.metric)?.has(v.label), `variable ${v.name}: ${s.metric} has no label ${v.label}`);
  }
});

test('the check would catch a renamed metric or label', () => {
  // The same checks over an expression with a name the services do not export.
  const renamed = promqlRefs('sum by (route_name) (rate(interceptor_requests_total[1m]))');
  assert.throws(() => checkSelector('renamed', renamed.selectors[0] as Selector), /not exported/);
  const wrongLabel = promqlRefs('interceptor_request_count_total{status="200"}');
  assert.throws(() => checkSelector('label', wrongLabel.selectors[0] as Selector), /has no label status/);
});
