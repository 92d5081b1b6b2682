// Waiting for what happens in the background (another replica, a recheck, a stream's end):
// polled, with a stated bound, instead of a fixed sleep that a busy machine can outrun.
import { setTimeout as sleep } from 'node:timers/promises';

/** Whether `check` held within `boundMs` (asked every `everyMs`, and once more at the end). */
export async function within(check: () => boolean | Promise<boolean>, boundMs = 5000, everyMs = 20): Promise<boolean> {
  const until = Date.now() + boundMs;
  while (Date.now() < until) {
    if (await check()) return true;
    await sleep(everyMs);
  }
  return check();
}
