// PEM files holding several blocks (a CA bundle, one revocation list per CA), split into blocks.

/** Each `-----BEGIN <label>-----` ... `-----END <label>-----` block of `pem`, in order, as text. */
export function pemBlocks(pem: Buffer, label: 'CERTIFICATE' | 'X509 CRL'): string[] {
  const block = new RegExp(`-----BEGIN ${label}-----[\\s\\S]*?-----END ${label}-----`, 'g');
  return [...pem.toString('latin1').matchAll(block)].map((m) => `${m[0]}\n`);
}
