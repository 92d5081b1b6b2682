// Preload (`node --import`) moving this process's wall clock, as on a host whose clock is off or
// steps: Date.now() and `new Date()` are the real time plus JITGATE_TEST_CLOCK_SKEW_MS, plus the
// offset (ms) held in the file JITGATE_TEST_CLOCK_FILE names, re-read every 20 ms (writing the
// file steps the clock at runtime, as an NTP step or a VM resume does). Monotonic clocks stay.
import { readFileSync } from 'node:fs';
import process from 'node:process';
import { setInterval } from 'node:timers';

const skew = Number(process.env.JITGATE_TEST_CLOCK_SKEW_MS ?? 0);
const file = process.env.JITGATE_TEST_CLOCK_FILE;
let stepped = 0;
if (file) {
  const read = () => { try { stepped = Number(readFileSync(file, 'utf8').trim()) || 0; } catch { /* keep the last */ } };
  read();
  setInterval(read, 20).unref();
}
if (skew !== 0 || file) {
  const Real = Date;
  const realNow = Real.now.bind(Real);
  class Moved extends Real {
    constructor(...args) {
      if (args.length === 0) super(realNow() + skew + stepped);
      else super(...args);
    }
    static now() { return realNow() + skew + stepped; }
  }
  globalThis.Date = Moved;
}
