// Recorded decisions decided again by another policy revision: what a change to policies/ would
// do to real traffic, before it is merged. The inputs come from the decision log (OPA's event
// format: one event per line, or JSON arrays of events, as OPA's uploads carry them). Each
// authz event is decided at the instant it was first decided: the input carries now_ns and
// the engine answers time.now_ns() with it, so a replay under the same revision gives the
// same decisions, and one under a changed revision shows only the change.
import { comparable, decideAgain, decisionChange, type CandidateDecision, type ComparedDecision } from './compare.js';
import { AUTHZ_ENTRYPOINT, type AuthzInput } from './contract.js';
import type { PolicyEvaluator } from './types.js';

/** The parts of a decision a replay compares. */
export type ReplayedDecision = ComparedDecision;

export interface ReplayDifference {
  decision_id: string | null;
  timestamp: string | null;
  subject: string | null;
  route: string | null;
  method: string | null;
  path: string | null;
  /** The logged input had masked or erased values: the candidate saw those, not the originals. */
  masked: boolean;
  before: ReplayedDecision;
  /** The candidate's decision, or the error code it failed with (a gateway would deny: 503). */
  after: CandidateDecision;
}

export interface ReplayReport {
  /** Revision of the candidate policy. */
  revision: string | null;
  /** Non-empty lines read. */
  lines: number;
  replayed: number;
  /** Same allow, credential and reason. */
  unchanged: number;
  skipped: {
    /** Lines (or parts of lines) that are not JSON, and values that are not event objects. */
    unreadable: number;
    /** Events of another entrypoint (jitgate/elevation, other policies' paths). */
    other_path: number;
    /** The input was erased (a mask rule) or is missing: nothing to decide on. */
    without_input: number;
    /** The decision failed when it was made (policy error): nothing to compare with. */
    without_result: number;
  };
  allow_to_deny: number;
  deny_to_allow: number;
  /** Still allowed, with another upstream credential. */
  credential_changed: number;
  /** Same allow and credential, another reason. */
  reason_changed: number;
  /** The candidate failed on the input (the gateway would answer 503). */
  errors: number;
  /** The first differences in allow or credential, and the errors, in log order. */
  differences: ReplayDifference[];
  /** More differences were found than `differences` holds. */
  truncated: boolean;
}

export interface ReplayOptions {
  /** Differences listed at most (default 50); all are counted. */
  limit?: number;
}

type Event = Record<string, unknown>;

function text(value: unknown): string | null {
  return typeof value === 'string' ? value : null;
}

function field(value: unknown, key: string): unknown {
  return value !== null && typeof value === 'object' ? (value as Record<string, unknown>)[key] : undefined;
}

function hasMaskedValues(event: Event): boolean {
  const listed = (key: string): boolean => Array.isArray(event[key]) && (event[key] as unknown[]).some((p) => typeof p === 'string' && p.startsWith('/input'));
  return listed('erased') || listed('masked');
}

/** A pretty-printed value longer than this is not waited for: counted unreadable instead. */
const MAX_PENDING_CHARS = 16 * 1024 * 1024;

/**
 * Splits text, fed line by line, into the JSON values written in it: one per JSONL line,
 * several where upload bodies were stored back to back without a separator (`[...][...]`),
 * or one over many lines where it was pretty-printed. Only brackets outside strings count,
 * and each line is scanned once. Text outside any value comes back as a value of its own, to
 * be counted as unreadable.
 */
class ValueSplitter {
  /** Lines of a value begun but not finished yet. */
  #pending: string[] = [];
  #pendingChars = 0;
  #depth = 0;
  #inString = false;

  /** A value is begun and not finished. */
  get pending(): boolean {
    return this.#pending.length > 0;
  }

  get oversized(): boolean {
    return this.#pendingChars > MAX_PENDING_CHARS;
  }

  /** Forgets the unfinished value (it was cut off). */
  reset(): void {
    this.#pending = [];
    this.#pendingChars = 0;
    this.#depth = 0;
    this.#inString = false;
  }

  /** The values `line` completes. */
  push(line: string): string[] {
    const values: string[] = [];
    let depth = this.#depth;
    let inString = this.#inString;
    let start = 0;
    for (let i = 0; i < line.length; i++) {
      const c = line.charCodeAt(i);
      if (inString) {
        if (c === 0x5c /* backslash: the next character is escaped */) i++;
        else if (c === 0x22 /* " */) inString = false;
      } else if (c === 0x22) {
        inString = true;
      } else if (c === 0x5b /* [ */ || c === 0x7b /* { */) {
        depth++;
      } else if ((c === 0x5d /* ] */ || c === 0x7d /* } */) && --depth === 0) {
        const piece = line.slice(start, i + 1);
        values.push(this.#pending.length === 0 ? piece : [...this.#pending, piece].join('\n'));
        this.#pending = [];
        this.#pendingChars = 0;
        start = i + 1;
        while (start < line.length && /\s/.test(line.charAt(start))) start++;
        i = start - 1;
      }
    }
    this.#depth = depth;
    this.#inString = inString;
    if (start < line.length) {
      if (depth > 0 || inString) {
        this.#pending.push(line.slice(start));
        this.#pendingChars += line.length - start;
      } else {
        values.push(line.slice(start));
      }
    }
    return values;
  }
}

/** A line that is whole, non-empty JSON objects or arrays on its own: a value left unfinished before it was cut off. */
function standsAlone(line: string): boolean {
  const splitter = new ValueSplitter();
  const values = splitter.push(line);
  return !splitter.pending && values.length > 0 && values.every((v) => {
    try {
      const parsed: unknown = JSON.parse(v);
      return parsed !== null && typeof parsed === 'object' && Object.keys(parsed).length > 0;
    } catch {
      return false;
    }
  });
}

/**
 * Replays every authz decision in `lines` (decision-log JSONL, in order; a line may also hold
 * JSON arrays of events, as OPA's decision-log uploads carry them, and an event may be
 * pretty-printed over several lines) under `policy`.
 */
export async function replayDecisions(
  policy: Pick<PolicyEvaluator, 'authorize' | 'revision'>,
  lines: AsyncIterable<string> | Iterable<string>,
  options: ReplayOptions = {},
): Promise<ReplayReport> {
  const limit = options.limit ?? 50;
  const report: ReplayReport = {
    revision: policy.revision, lines: 0, replayed: 0, unchanged: 0,
    skipped: { unreadable: 0, other_path: 0, without_input: 0, without_result: 0 },
    allow_to_deny: 0, deny_to_allow: 0, credential_changed: 0, reason_changed: 0, errors: 0,
    differences: [], truncated: false,
  };
  const note = (difference: ReplayDifference): void => {
    if (report.differences.length < limit) report.differences.push(difference);
    else report.truncated = true;
  };
  const replay = (event: Event): void => {
    if (event.path !== AUTHZ_ENTRYPOINT) {
      report.skipped.other_path++;
      return;
    }
    const input = event.input;
    if (input === null || typeof input !== 'object') {
      report.skipped.without_input++;
      return;
    }
    const before = comparable(event.result);
    if (!before) {
      report.skipped.without_result++;
      return;
    }
    report.replayed++;
    const facts = event.jitgate;
    const request = field(input, 'request');
    const difference = (outcome: CandidateDecision): ReplayDifference => ({
      decision_id: text(event.decision_id),
      timestamp: text(event.timestamp),
      subject: text(field(facts, 'subject')) ?? text(field(field(input, 'subject'), 'id')),
      route: text(field(facts, 'route')) ?? text(field(field(input, 'route'), 'name')),
      method: text(field(request, 'method')),
      path: text(field(request, 'path')),
      masked: hasMaskedValues(event),
      before,
      after: outcome,
    });
    const after = decideAgain(policy, input as AuthzInput);
    const change = decisionChange(before, after);
    report[change === 'error' ? 'errors' : change]++;
    // Reason-only changes are counted, not listed.
    if (change !== 'unchanged' && change !== 'reason_changed') note(difference(after));
  };
  const splitter = new ValueSplitter();
  for await (const raw of lines) {
    const line = raw.trim();
    if (line === '') continue;
    report.lines++;
    if (splitter.pending && standsAlone(line)) {
      report.skipped.unreadable++;
      splitter.reset();
    }
    const values = splitter.push(line);
    if (splitter.oversized) {
      report.skipped.unreadable++;
      splitter.reset();
    }
    for (const text of values) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        report.skipped.unreadable++;
        continue;
      }
      // A JSON array of events: the body of an upload to an OPA decision-log service.
      for (const event of Array.isArray(parsed) ? parsed as unknown[] : [parsed]) {
        if (event === null || typeof event !== 'object' || Array.isArray(event)) report.skipped.unreadable++;
        else replay(event as Event);
      }
    }
  }
  if (splitter.pending) report.skipped.unreadable++;
  return report;
}

/** Whether the candidate would decide any replayed request differently (reason changes aside) or fail on one. */
export function replayChangesDecisions(report: ReplayReport): boolean {
  return report.allow_to_deny + report.deny_to_allow + report.credential_changed + report.errors > 0;
}
