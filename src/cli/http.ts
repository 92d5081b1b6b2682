// One call to the control API with a bound on both time and size: the whole exchange (connect,
// head and body) ends within the deadline, and an answer larger than any the API gives is cut
// off. Without them a server that sent its head and then a body slowly, or one without end,
// held the CLI forever, and the second grew its memory without bound (14 GB in 80 s). The
// bounds themselves are the shared src/fetch-limited.ts.
import { fetchLimited } from '../fetch-limited.js';

/** The most a control API answer may hold: a page of 500 requests at their schema's limits is less. */
export const MAX_ANSWER_BYTES = 64 * 1024 * 1024;

/** How long one call may take, from connecting to the answer's last byte. */
export const CALL_TIMEOUT_MS = 30_000;

/** What went wrong with a call: the shared bounded fetch's error, under the CLI's name. */
export { FetchLimitError as CallError, type FetchFailure as CallFailure } from '../fetch-limited.js';

export interface Answer { status: number; ok: boolean; text: string }

export interface CallLimits { timeoutMs?: number; maxBytes?: number }

/** The status and text of one call; a CallError when there is none within the limits. */
export async function callOnce(url: URL, init: Omit<RequestInit, 'signal' | 'redirect'>, limits: CallLimits = {}): Promise<Answer> {
  // Never followed: a redirect would take the bearer token to wherever it points.
  const answer = await fetchLimited(url, { ...init, redirect: 'error' }, {
    timeoutMs: limits.timeoutMs ?? CALL_TIMEOUT_MS,
    maxBytes: limits.maxBytes ?? MAX_ANSWER_BYTES,
  });
  return { status: answer.status, ok: answer.ok, text: new TextDecoder().decode(answer.body) };
}
