// Finds responses that outlive their decision (an event stream, a long download) without a timer per
// request. A relay whose response head arrives is noted for the rest of that event-loop turn; at
// the turn's end (one setImmediate for all of them) the ones whose upstream body is still coming
// get a timer for the moment they start to linger. Nearly every response is over by then, so a
// short request costs one array push: a timer, a set or a sweeper holding every request in flight
// cost 10-13 µs per request (docs/benchmarks.md, "Data path").

/** A response being relayed that may come to linger. */
export interface LingerCandidate {
  /** The upstream's body is still coming. */
  streaming(): boolean;
  /**
   * Called once the turn its head arrived in is over, for a response still streaming then (to
   * send its head on, and watch it). Must not throw: a candidate that cannot do so ends its response.
   */
  outlivedTurn(): void;
}

const noted: LingerCandidate[] = [];
let scheduled = false;

function endOfTurn(): void {
  scheduled = false;
  try {
    for (let i = 0; i < noted.length; i++) {
      const c = noted[i] as LingerCandidate;
      if (c.streaming()) c.outlivedTurn();
    }
  } finally {
    noted.length = 0;
  }
}

/** Notes a response whose head just arrived; `c.outlivedTurn()` follows if it is still streaming when this turn ends. */
export function noteResponse(c: LingerCandidate): void {
  noted.push(c);
  if (!scheduled) {
    scheduled = true;
    setImmediate(endOfTurn);
  }
}
