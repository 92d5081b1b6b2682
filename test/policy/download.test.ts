// The bundle downloader against a real HTTP server that misbehaves: a server trickling its body
// must not hold a download (the gateway's start waits on the first one) for as long as it likes.
import t from 'tap';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { BundleDownloader, buildBundle, PolicyManager, type BundleSource } from '../../src/policy/index.js';
import { FIXTURES, testOpa } from './helpers.js';
import { neverEnd } from '../helpers/never-ending.js';

const silent = { info: () => undefined, warn: () => undefined };

// undici #4068: an abort stops reaching fetch's body once a garbage collection ran.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

t.test('a server that trickles its body: the download is abandoned at the body deadline, and the next one is tried', async (t) => {
  const opa = await testOpa();
  const root = await mkdtemp(join(tmpdir(), 'jitgate-download-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  await buildBundle({ dir: join(FIXTURES, 'policy-basic'), opaPath: opa, outFile: join(root, 'b.tar.gz'), revision: 'served' });
  const bundle = await readFile(join(root, 'b.tar.gz'));
  let trickle = true;
  const server = createServer((req, res) => {
    res.writeHead(200, { etag: '"b"' });
    if (!trickle) {
      res.end(bundle);
      return;
    }
    // Headers at once, then a byte every 200 ms: never idle long enough for a per-chunk timeout.
    let at = 0;
    const timer = setInterval(() => { res.write(bundle.subarray(at, ++at)); }, 200);
    req.on('close', () => { clearInterval(timer); });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => { server.closeAllConnections(); server.close(); });
  const manager = new PolicyManager({ config: { dir: join(root, 'none'), bundles_dir: join(root, 'bundles'), watch: false, debounce_ms: 10 }, build: false, required: false });
  const source: BundleSource = {
    name: 'jitgate',
    url: `http://127.0.0.1:${String((server.address() as AddressInfo).port)}/b.tar.gz`,
    headers: () => Promise.resolve({}),
    dispatcher: () => undefined,
    minDelayMs: 10,
    maxDelayMs: 10,
    sizeLimitBytes: 1 << 30,
    timeoutMs: 1000,
    bodyDeadlineMs: 800,
    longPollMs: null,
    file: join(root, 'bundles', 'jitgate.tar.gz'),
  };
  const downloader = new BundleDownloader(source, manager, silent);
  t.teardown(() => downloader.stop());

  const started = Date.now();
  const outcome = await Promise.race([downloader.fetchOnce(), new Promise((resolve) => setTimeout(() => { resolve('still downloading'); }, 5000))]);
  t.equal(outcome, 'failed', 'the trickled download is given up');
  t.ok(Date.now() - started < 3000, `at its deadline (${String(Date.now() - started)} ms)`);
  t.match(downloader.lastError, /no complete answer within 1\.8 s/, 'saying why');
  t.equal(manager.revision, null, 'nothing half-downloaded was loaded');

  trickle = false;
  t.equal(await downloader.fetchOnce(), 'activated', 'the next poll gets the bundle');
  t.equal(manager.revision, 'served');
});

for (const [status, hostile] of [[500, 'trickle'], [200, 'trickle'], [500, 'endless'], [200, 'endless']] as const) {
  t.test(`a server that answers ${String(status)} and then ${hostile === 'trickle' ? 'a byte a second' : 'a body without end'}, with garbage collections running: the poll ends, and the next one gets the bundle`, async (t) => {
    const opa = await testOpa();
    const root = await mkdtemp(join(tmpdir(), 'jitgate-download-'));
    t.teardown(() => rm(root, { recursive: true, force: true }));
    await buildBundle({ dir: join(FIXTURES, 'policy-basic'), opaPath: opa, outFile: join(root, 'b.tar.gz'), revision: 'served' });
    const bundle = await readFile(join(root, 'b.tar.gz'));
    let behaving = false;
    const open = new Set<ServerResponse>();
    const server = createServer((_req, res) => {
      if (behaving) {
        res.writeHead(200, { etag: '"b"' }).end(bundle);
        return;
      }
      neverEnd(res, hostile, { status, first: ' ', open });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    t.teardown(() => { server.closeAllConnections(); server.close(); });
    const manager = new PolicyManager({ config: { dir: join(root, 'none'), bundles_dir: join(root, 'bundles'), watch: false, debounce_ms: 10 }, build: false, required: false });
    const downloader = new BundleDownloader({
      name: 'jitgate', url: `http://127.0.0.1:${String((server.address() as AddressInfo).port)}/b.tar.gz`,
      headers: () => Promise.resolve({}), dispatcher: () => undefined, minDelayMs: 10, maxDelayMs: 10,
      sizeLimitBytes: 8 * 1024 * 1024, timeoutMs: 1000, bodyDeadlineMs: 2000, longPollMs: null,
      file: join(root, 'bundles', 'jitgate.tar.gz'),
    }, manager, silent);
    t.teardown(() => downloader.stop());
    const collecting = setInterval(gc, 200);
    t.teardown(() => { clearInterval(collecting); });

    let bound: NodeJS.Timeout | undefined;
    const outcome = await Promise.race([downloader.fetchOnce(), new Promise((resolve) => { bound = setTimeout(() => { resolve('still downloading'); }, 30_000); })]);
    clearTimeout(bound);
    t.equal(outcome, 'failed', 'the poll is given up');
    t.match(downloader.lastError, status === 500 ? /the server answered 500/ : hostile === 'trickle' ? /no complete answer within 3 s/ : /larger than size_limit_bytes \(8388608\)/, 'saying why');
    for (let i = 0; i < 250 && open.size > 0; i++) await new Promise((resolve) => setTimeout(resolve, 20));
    t.equal(open.size, 0, 'its connection is closed');
    behaving = true;
    t.equal(await downloader.fetchOnce(), 'activated', 'the next poll gets the bundle');
    t.equal(manager.revision, 'served');
  });
}
