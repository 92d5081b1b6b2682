// TLS part: certificates for the gateway's own listeners (data path and control API), read,
// checked and swapped on reload; the callers' verified certificates; and the TLS the gateway
// uses as a client (route upstreams, OPA services).
export { tlsFilesSchema, type TlsFiles } from './config.js';
export { readConfiguredPem, readTls, type TlsMaterial } from './material.js';
export { clientConnectOptions, clientTlsId, type ClientConnectOptions, type ClientTlsParts } from './client.js';
export { listenerFastify, useTls } from './listener.js';
export { clientCertificate } from './peer.js';
