// TLS part: certificates for the gateway's own listeners (data path and control API), read,
// checked and swapped on reload.
export { tlsFilesSchema, type TlsFiles } from './config.js';
export { readTls, type TlsMaterial } from './material.js';
export { listenerFastify, useTls } from './listener.js';
export { clientCertificate } from './peer.js';
