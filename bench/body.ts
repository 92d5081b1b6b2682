// What showing the policy a request body costs (routes with `policy_body`), against baselines
// measured in the same run:
// - checking a body (src/proxy/strict-json.ts: syntax, repeated names, exact numbers) and
//   parsing it, against JSON.parse alone;
// - reading a form body (src/proxy/strict-form.ts: separators, repeated and mangled names,
//   NUL, encoding), against URLSearchParams, the usual lenient reading;
// - a policy decision (sample policies, a refund) with the body in the input, against the
//   same decision without it.
// Run: node --import tsx bench/body.ts   (writes `## Request bodies` in docs/benchmarks.md)
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { buildBundle, requireOpa, seal, sealGrants, type AuthzInput } from '../src/policy/index.js';
import { inspectForm } from '../src/proxy/strict-form.js';
import { inspectJson } from '../src/proxy/strict-json.js';
import { writeSection } from './docs-section.js';

const ROUNDS = 5;

/** A refund with `items` line items: the shape of a typical JSON API body, grown to size. */
function refundBody(items: number): string {
  return JSON.stringify({
    order: 'o-7',
    amount: 42.5,
    currency: 'EUR',
    reason: 'damaged on arrival',
    lines: Array.from({ length: items }, (_, i) => ({ sku: `SKU-${String(100000 + i)}`, quantity: (i % 5) + 1, unit_price: 9.99 + i, note: i % 3 === 0 ? 'gift wrap' : null })),
  });
}

/** Median time per call in µs over interleaved rounds (the machine is shared: medians, not means). */
function timeEach(fns: (() => unknown)[], iterations: number): number[] {
  const samples = fns.map(() => [] as number[]);
  for (let round = 0; round < ROUNDS; round++) {
    fns.forEach((fn, i) => {
      const start = performance.now();
      for (let k = 0; k < iterations; k++) fn();
      samples[i]!.push(((performance.now() - start) * 1000) / iterations);
    });
  }
  return samples.map((s) => s.sort((a, b) => a - b)[Math.floor(s.length / 2)]!);
}

const sizes = [0, 3, 60, 240];
const checkRows = sizes.map((items) => {
  const text = refundBody(items);
  const iterations = Math.max(50, Math.floor(2_000_000 / text.length));
  const [parse, checked] = timeEach([
    () => JSON.parse(text) as unknown,
    () => { if (inspectJson(text) !== null) throw new Error('the benchmark body must pass'); return JSON.parse(text) as unknown; },
  ], iterations);
  return { bytes: Buffer.byteLength(text), parse: parse!, checked: checked! };
});

/** A form refund with `fields` fields in all, some with escapes and `+`, as browsers encode them. */
function refundForm(fields: number): string {
  const pairs = ['order=o-7', 'amount=42.50', 'reason=damaged+on+arrival%21'];
  for (let i = pairs.length; i < fields; i++) pairs.push(`line_${String(i)}=SKU-${String(100000 + i)}%20x${String((i % 5) + 1)}`);
  return pairs.join('&');
}

const formRows = [3, 20, 200, 1000].map((fields) => {
  const text = refundForm(fields);
  const iterations = Math.max(50, Math.floor(2_000_000 / text.length));
  const [lenient, strict] = timeEach([
    () => Object.fromEntries(new URLSearchParams(text)),
    () => { if (!('fields' in inspectForm(text))) throw new Error('the benchmark form must pass'); },
  ], iterations);
  return { fields, bytes: Buffer.byteLength(text), lenient: lenient!, strict: strict! };
});

const opa = await requireOpa();
const { engine } = await buildBundle({ dir: join(import.meta.dirname, '..', 'policies'), opaPath: opa, revision: 'bench' });
const now = Date.now();
const grants = sealGrants([{
  id: 'g1', role: 'writer', scope: null, starts_at: new Date(now).toISOString(), expires_at: new Date(now + 3_600_000).toISOString(),
  expires_at_ns: (now + 3_600_000) * 1e6, approved_by: ['bob'], reason: 'bench', ticket: null, break_glass: false, request_id: 'r1',
}]);
const subject = seal({ id: 'alice', kind: 'user' as const, groups: ['eng'], claims: {} });
const route = seal({ name: 'demo', upstream: 'http://127.0.0.1:9001', credentials: ['readonly', 'writer', 'admin'] });
const inputFor = (body: unknown): AuthzInput => ({
  request: {
    method: 'POST', path: '/api/refunds', segments: ['api', 'refunds'], query: {}, headers: { 'content-type': 'application/json' }, host: '127.0.0.1:8080',
    ...(body === undefined ? {} : { body, body_status: 'parsed' as const }),
  },
  subject, grants, route, now_ns: now * 1e6,
});
const decisionRows = sizes.map((items) => {
  const body: unknown = JSON.parse(refundBody(items));
  const withBody = inputFor(body);
  // The baseline: a write the policy decides without a body (an item, same grant, same rules up to the body).
  const without: AuthzInput = { ...inputFor(undefined), request: { ...inputFor(undefined).request, path: '/api/items', segments: ['api', 'items'] } };
  if (!engine.authorize(withBody).result.allow || !engine.authorize(without).result.allow) throw new Error('both benchmark decisions must allow');
  const [plain, bodied] = timeEach([() => engine.authorize(without), () => engine.authorize(withBody)], 3000);
  return { bytes: Buffer.byteLength(JSON.stringify(body)), plain: plain!, bodied: bodied! };
});

const f = (n: number): string => n.toFixed(1);
const section = `## Request bodies

Measured by \`node --import tsx bench/body.ts\` on ${new Date().toISOString().slice(0, 10)} (${String(cpus().length)} cores, Node ${process.version}, load average ${loadavg().map((l) => l.toFixed(1)).join(' / ')}).
On a route with \`policy_body\` the gateway checks each JSON body before the policy sees it (src/proxy/strict-json.ts: syntax, repeated member names, numbers a double cannot hold, half surrogates) and then parses it; the policy module parses it again as part of the input. Bodies: a refund with 0 to 240 line items. Each figure is the median of ${String(ROUNDS)} interleaved rounds, in µs per body.

| body bytes | JSON.parse alone (baseline) | check + JSON.parse | ratio | decision without a body (baseline) | decision with the body | ratio |
|---:|---:|---:|---:|---:|---:|---:|
${checkRows.map((c, i) => {
  const d = decisionRows[i]!;
  return `| ${c.bytes.toLocaleString('en-US')} | ${f(c.parse)} | ${f(c.checked)} | ${(c.checked / c.parse).toFixed(1)}× | ${f(d.plain)} | ${f(d.bodied)} | ${(d.bodied / d.plain).toFixed(1)}× |`;
}).join('\n')}

The decision baseline is the same caller, grant and policy deciding \`POST /api/items\` (no body in the input); the body column decides \`POST /api/refunds\` with the body, so it includes the refund rules as well as moving the body into the module. Routes without \`policy_body\` never read a body and pay none of this.

Form bodies (routes listing \`application/x-www-form-urlencoded\`): reading the fields with every check (src/proxy/strict-form.ts) against \`URLSearchParams\`, which reads any text and keeps what servers disagree on. Forms with 3 to 1,000 fields (PHP's \`max_input_vars\`, the most a form may have), escapes and \`+\` included; median of ${String(ROUNDS)} interleaved rounds, µs per body.

| fields | body bytes | URLSearchParams (baseline) | strict reading | ratio |
|---:|---:|---:|---:|---:|
${formRows.map((r) => `| ${r.fields.toLocaleString('en-US')} | ${r.bytes.toLocaleString('en-US')} | ${f(r.lenient)} | ${f(r.strict)} | ${(r.strict / r.lenient).toFixed(1)}× |`).join('\n')}
`;
writeSection('Request bodies', section);
console.log(section);
