// Preloaded into a bench proxy by bench/alloc.ts (`node --import <this, compiled> proxy.js`):
// SIGUSR2 starts V8's sampling heap profiler, counting objects a collection has freed too (so
// it sees every allocation, not only what lives on), and the next SIGUSR2 writes the profile to
// JITGATE_ALLOC_PROFILE. Signals, not a port: the proxy's own event loop is all it touches.
import { renameSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';

/** Bytes between samples: small enough for a few thousand requests to give a steady figure. */
const SAMPLING_INTERVAL = 512;

const out = process.env.JITGATE_ALLOC_PROFILE;
if (out !== undefined && out !== '') {
  const session = new Session();
  session.connect();
  let sampling = false;
  process.on('SIGUSR2', () => {
    void (async () => {
      if (!sampling) {
        sampling = true;
        await session.post('HeapProfiler.enable');
        await session.post('HeapProfiler.startSampling', {
          samplingInterval: SAMPLING_INTERVAL, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true,
        });
        return;
      }
      sampling = false;
      const { profile } = await session.post('HeapProfiler.stopSampling');
      writeFileSync(`${out}.tmp`, JSON.stringify(profile));
      // Renamed when whole: the driver waits for the name.
      renameSync(`${out}.tmp`, out);
    })();
  });
}
