// The masking of decision-log events and audit details remembers its verdict on each member name
// it meets, so that the few dozen names every decision repeats are judged once. A caller chooses
// the names of its body's members and query parameters: a real gateway (demo config) kept every
// distinct 60 KB name a caller sent, 4,096 at a time per table (250 MB held; 4 GiB with
// policy_body.max_bytes at its 1 MiB ceiling). Long names are judged every time, not remembered.
import { runInNewContext } from 'node:vm';
import { setFlagsFromString } from 'node:v8';
import t from 'tap';
import { maskValue, scrubSecrets } from '../../src/audit/mask.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

function heldMb(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed / 1024 / 1024;
}

t.test('distinct long member names sent by callers are not kept', (t) => {
  const NAMES = 4000;
  const LENGTH = 32 * 1024;
  const before = heldMb();
  for (let i = 0; i < NAMES; i++) {
    // Flat strings made fresh each time, as a parsed request's are: only the masking could keep them.
    const body = `b${String(i)}-`.padEnd(LENGTH, 'k');
    const query = `q${String(i)}-`.padEnd(LENGTH, 'k');
    maskValue('input', { request: { body: { [body]: 1 }, query: { [query]: ['1'] } } });
    scrubSecrets({ details: { [body]: 1 }, query: { [query]: '1' } });
  }
  const grown = heldMb() - before;
  // Kept, the last 4,096 of them would stay: about 125 MB.
  t.ok(grown < 40, `heap after masking ${String(NAMES)} distinct ${String(LENGTH / 1024)} KB names of each kind grew by ${grown.toFixed(1)} MB`);
  t.end();
});

t.test('long names are still judged, each time', (t) => {
  const secret = `${'x'.repeat(300)}_password`;
  for (let i = 0; i < 2; i++) {
    const { value, masked } = maskValue('input', { request: { body: { [secret]: 'hunter2' } } });
    t.same(value, { request: { body: { [secret]: '[REDACTED]' } } }, `masked the ${i === 0 ? 'first' : 'second'} time`);
    t.equal(masked.length, 1);
  }
  t.end();
});
