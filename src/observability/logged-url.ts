// A request's URL as the control API's request log lines show it. The caller picks it, before
// any authentication, up to the head's size limit (~16 kB), and its query values are whatever it
// sent (a `token`, a `sig`): the line keeps the path and the query's names, not their values,
// and at most LOGGED_URL_CHARS of that, marked where it was cut.

export const LOGGED_URL_CHARS = 1024;
const REDACTED_VALUE = '[REDACTED]';

/** `/v1/requests?cursor=[REDACTED]&limit=[REDACTED]`, cut to LOGGED_URL_CHARS. */
export function loggedUrl(url: string): string {
  const q = url.indexOf('?');
  let shown = url;
  if (q >= 0) {
    // Only as much of the query is looked at as could be shown: its length is the caller's.
    const query = url.slice(q + 1, q + 1 + LOGGED_URL_CHARS);
    const names = query.split('&').map((pair) => {
      const eq = pair.indexOf('=');
      return eq < 0 ? pair : `${pair.slice(0, eq)}=${REDACTED_VALUE}`;
    });
    shown = `${url.slice(0, q)}?${names.join('&')}`;
  }
  if (shown.length <= LOGGED_URL_CHARS && q + 1 + LOGGED_URL_CHARS >= url.length) return shown;
  return `${shown.slice(0, LOGGED_URL_CHARS)}...[cut: the URL is ${String(url.length)} characters]`;
}
