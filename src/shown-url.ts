// A URL from the configuration as logs and errors show it: a bundle server's, a token
// endpoint's, a JWKS document's. A query's values are credentials often enough (an Azure SAS
// `sig`, a presigned URL's signature, an `api_key` a provider wants in the query), and a failing
// endpoint is logged on every poll or refresh, and can reach the audit trail with a reload's
// error; so they are left out. The names stay, to tell which URL it was. (A user name or
// password in a configured URL is refused at config load; a caller's request URL is shown by
// observability's loggedUrl, which also cuts it to length.)

/** `https://svc.example/v1/b.tar.gz?sv=[REDACTED]&sig=[REDACTED]`; `(not a URL)` for what does not parse. */
export function shownUrl(text: string): string {
  if (!URL.canParse(text)) return '(not a URL)';
  const url = new URL(text);
  const names = [...url.searchParams.keys()];
  return `${url.origin}${url.pathname}${names.length === 0 ? '' : `?${names.map((n) => `${encodeURIComponent(n)}=[REDACTED]`).join('&')}`}`;
}
