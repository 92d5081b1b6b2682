// TLS part: certificates for the gateway's own listeners (data path and control API), read,
// checked and swapped on reload, and the listeners built with them (and with the same bounds on
// slow callers); the callers' verified certificates; and the TLS the gateway uses as a client
// (route upstreams, OPA services).
export { tlsFilesSchema, type TlsFiles } from './config.js';
export { readConfiguredPem, readTls, unreadableFile, type TlsMaterial } from './material.js';
export { clientConnectOptions, clientTlsId, type ClientConnectOptions, type ClientTlsParts } from './client.js';
export { CLIENT_TIMEOUT_DEFAULTS, closeDraining, listenerFastify, useClientTimeouts, useTls, type ClientTimeouts, type ConnectionLimit } from './listener.js';
export { clientCertificate } from './peer.js';
