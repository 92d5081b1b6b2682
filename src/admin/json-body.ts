// JSON bodies of the control API, read one way only. JSON.parse keeps the last of a repeated
// member name (`{"role":"writer","role":"admin"}` asks for admin), while many parsers keep the
// first: a proxy, a log or a reviewer reading the bytes would see another request than the one
// the workflow stores, audits and shows approvers. The data path refuses such bodies for the
// same reason (proxy/strict-json.ts); here the rest of its checks are the schema's business.
import type { FastifyInstance } from 'fastify';
import { jitgateError } from '../errors.js';

/**
 * The first member name that appears twice in one object of `text`, or null. `text` is JSON that
 * JSON.parse accepted, so only strings and brackets need telling apart.
 */
export function repeatedMember(text: string): string | null {
  // One entry per open bracket: the names seen so far in an object, null for an array.
  const open: (Set<string> | null)[] = [];
  let nameNext = false;
  for (let at = 0; at < text.length; at++) {
    const c = text.charCodeAt(at);
    if (c === 0x22) {
      let end = at + 1;
      while (text.charCodeAt(end) !== 0x22) end += text.charCodeAt(end) === 0x5c ? 2 : 1;
      if (nameNext) {
        const names = open[open.length - 1];
        const name = JSON.parse(text.slice(at, end + 1)) as string;
        if (names?.has(name)) return name;
        names?.add(name);
        nameNext = false;
      }
      at = end;
    } else if (c === 0x7b) {
      open.push(new Set());
      nameNext = true;
    } else if (c === 0x5b) {
      open.push(null);
      nameNext = false;
    } else if (c === 0x7d || c === 0x5d) {
      open.pop();
      nameNext = false;
    } else if (c === 0x2c) {
      nameNext = open[open.length - 1] instanceof Set;
    }
  }
  return null;
}

/** fastify's JSON parser (its `__proto__` and `constructor` refusals kept), refusing repeated member names. */
export function parseJsonBodies(app: FastifyInstance): void {
  const parse = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, raw, done) => {
    const body = typeof raw === 'string' ? raw : raw.toString('utf8');
    // The default parser is the callback form (its type also admits a promise).
    void parse(request, body, (err, value) => {
      if (err) {
        done(err, undefined);
        return;
      }
      const name = repeatedMember(body);
      if (name === null) done(null, value);
      else done(jitgateError('BODY_AMBIGUOUS', `the member name ${JSON.stringify(name)} appears twice in one object`, { in: 'body', member: name }), undefined);
    });
  });
}
