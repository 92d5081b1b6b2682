// The worker thread that parses a bundle's data.json into a memory image (data-image.ts): one
// request, one reply, and it ends.
import { parentPort } from 'node:worker_threads';
import { toError } from '../errors.js';
import { parseDataHere, type DataParseReply, type DataParseRequest } from './data-image.js';

const port = parentPort;
if (port === null) throw new Error('data-worker.ts runs as a worker thread only');

port.once('message', (request: DataParseRequest) => {
  void parseDataHere(request).then(
    (image) => {
      const reply: DataParseReply = { ok: true, image };
      // The image is moved, not copied: it can be hundreds of megabytes.
      port.postMessage(reply, [image.bytes]);
    },
    (thrown: unknown) => {
      const reply: DataParseReply = { ok: false, message: toError(thrown).message };
      port.postMessage(reply);
    },
  );
});
