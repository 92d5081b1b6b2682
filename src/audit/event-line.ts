// A decision-log event as the JSON line the sinks carry, written by a template for the event's
// fixed members rather than by walking it: this runs once per proxied request, and a generic
// encoder's per-member callbacks, name lookups and joins measured, together with the file
// sink's second pass over each line, 3-4 µs of each request's CPU (docs/benchmarks.md). Parts
// made already are used as they are: the input's JSON (the policy engine's), sealed members'
// JSON, and the labels (the same for every event).
import { jsonOf } from '../policy/index.js';
import type { DecisionLogEvent } from './types.js';

export type LoggedEvent = Omit<DecisionLogEvent, 'labels' | 'erased' | 'masked'>;

/**
 * `"input":…,"result":…` as JSON.stringify writes those members (an undefined one omitted).
 * `inputJson` is the input's JSON when already made.
 */
export function inputAndResult(input: unknown, result: unknown, inputJson: string | undefined): string {
  const i = inputJson ?? jsonOf(input);
  const r = jsonOf(result);
  if (i === undefined) return r === undefined ? '' : `"result":${r}`;
  return r === undefined ? `"input":${i}` : `"input":${i},"result":${r}`;
}

/**
 * The event's JSON: the same text JSON.stringify gives for the event with its input and result
 * members replaced by `middle` (from inputAndResult) and `tail` (`,"name":json…`) appended.
 * The members are written in the order both event builders (pipeline.ts, event.ts) give them.
 */
export function eventLine(event: LoggedEvent, middle: string, tail: string): string {
  let line = `{"decision_id":${JSON.stringify(event.decision_id)},"timestamp":${JSON.stringify(event.timestamp)},"path":${JSON.stringify(event.path)}`;
  if (middle !== '') line += `,${middle}`;
  return `${line}${member('bundles', event.bundles)}${member('metrics', event.metrics)}${member('jitgate', event.jitgate)}${tail}}`;
}

/** `,"name":json`, or nothing for a value JSON.stringify would omit. */
function member(name: string, value: unknown): string {
  const json = jsonOf(value);
  return json === undefined ? '' : `,"${name}":${json}`;
}
