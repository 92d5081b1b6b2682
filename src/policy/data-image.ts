// A bundle's data.json, parsed once into an image of the module's memory, off the event loop.
//
// The SDK's setData has the module parse the raw JSON (opa_json_parse) synchronously: seconds
// for a data.json of 10 MB, during which no request is answered, and once per instance (the
// serving one, its spare, every replacement). But everything setData changes lives in the
// module's linear memory (the parsed values, and the allocator's C statics: heap pointer, heap
// top, free lists; the only mutable wasm global is the stack pointer, back at its start after
// every call) and in three SDK fields (dataAddr, baseHeapPtr, dataHeapPtr). So a worker
// thread instantiates the same compiled module through the same SDK calls, has it parse the
// data, and hands back the memory up to the heap pointer with those three fields. Each
// instance then takes the image in: its memory grown to the worker's size (the image's
// heap_top assumes that much), the bytes copied in slices between which the event loop runs.
//
// Data up to INLINE_DATA_BYTES is parsed here, in this thread, the same way: it costs less
// than a worker's start, and a policy's usual data.json is that small. One code path after the
// parse: every instance, small data or large, takes its data in from an image.
//
// The module's parser recurses once or more per level of nesting, on the thread's own stack.
// Data nested more than OPA's 10,000 levels is refused before it is parsed (data-depth.ts),
// as OPA refuses it. Up to that, the worker's stack is set, and enough: objects, which take the
// most stack per level, loaded up to 24,900 levels deep with it. The main thread's is not (V8's
// default, about 1 MB, less whatever called the load: objects failed there from 6,250 levels),
// so small data nested more than INLINE_DATA_DEPTH levels is parsed in a worker too.
//
// The engine keeps the image to make its spare and replacement instances from: memory for one
// more copy of the parsed data (13 to 16 times the text for many small objects: 175 MB for a
// data.json of 10 MB, 100 KB for the samples'), instead of seconds of parsing per replacement.
import { Worker } from 'node:worker_threads';
import { loadPolicy, type LoadedPolicy } from '@open-policy-agent/opa-wasm';
import { toError } from '../errors.js';
import type { WasmMemoryDescriptor, WasmModule } from './wasm.js';
import { assertOpaDepth, nestingDepth } from './data-depth.js';

const WASM_PAGE = 64 * 1024;
/** Parsed here rather than in a worker up to this size: about 3 ms here, where a worker takes 70 ms to start (off the event loop). */
export const INLINE_DATA_BYTES = 64 * 1024;
/** Small data nested deeper than this is parsed in a worker: a sixth of the levels the main thread's stack held. */
export const INLINE_DATA_DEPTH = 1_000;
/** The worker's stack: 10,000 levels of objects need about 1.6 MiB of it (4 MiB held 24,900). */
const WORKER_STACK_MB = 4;
/** A worker still parsing after this long is stopped and the load fails (10 MB takes about 4 s). */
export const DATA_PARSE_TIMEOUT_MS = 120_000;
/** Bytes copied into an instance per turn of the event loop (under a millisecond each; 4 MiB took 2-3 ms). */
const COPY_SLICE_BYTES = 1024 * 1024;

/** The module's memory after setData, and the SDK's fields that point into it. */
export interface DataImage {
  /** The memory from address 0 up to the heap pointer after the parse. */
  bytes: ArrayBuffer;
  /** Pages the memory had then: the allocator's heap top, in the image, assumes them. */
  pages: number;
  dataAddr: number;
  baseHeapPtr: number;
  dataHeapPtr: number;
}

/** What the worker is sent: the compiled module (shared, not compiled again), the raw data.json, the memory limits. */
export interface DataParseRequest {
  module: WasmModule;
  data: ArrayBuffer;
  memory: WasmMemoryDescriptor;
}

export type DataParseReply = { ok: true; image: DataImage } | { ok: false; message: string };

export interface DataParseOptions {
  /** Default DATA_PARSE_TIMEOUT_MS. */
  timeoutMs?: number;
  /** Default INLINE_DATA_BYTES. */
  inlineBytes?: number;
  /** The worker's script (default data-worker): tests hand one that crashes. */
  workerUrl?: URL;
}

/** The SDK fields setData sets, and the memory they point into. */
interface SdkDataState {
  mem: { buffer: ArrayBuffer; grow(pages: number): number };
  /** Always the Instance, whichever form loadPolicy was given. */
  wasmInstance: { exports: { opa_heap_ptr_get(): number } };
  dataAddr: number;
  baseHeapPtr: number;
  dataHeapPtr: number;
}

function stateOf(policy: LoadedPolicy): SdkDataState {
  return policy;
}

/**
 * Parses `data` in a fresh instance of `module`, made as the engine makes its own (loadPolicy,
 * then setData), and takes its image. Host builtins are left out: setData calls none, and one
 * called anyway fails the parse. Throws what setData throws.
 */
export async function parseDataHere(request: DataParseRequest): Promise<DataImage> {
  // Before the parse: past OPA's limit the module would recurse until the stack ran out.
  assertOpaDepth(new Uint8Array(request.data));
  const policy = await loadPolicy(request.module, { ...request.memory }, {});
  policy.setData(request.data);
  assertOneJsonValue(request.data);
  const state = stateOf(policy);
  return {
    bytes: state.mem.buffer.slice(0, state.dataHeapPtr),
    pages: state.mem.buffer.byteLength / WASM_PAGE,
    dataAddr: state.dataAddr,
    baseHeapPtr: state.baseHeapPtr,
    dataHeapPtr: state.dataHeapPtr,
  };
}

/**
 * Throws unless `data` is one JSON value and nothing after it but whitespace. The module's
 * parser stops at the end of the first value and ignores the rest (`{"a": 1} trailing` and
 * `{} {"a": 1}` both load), where OPA (`opa run --bundle`, `opa eval --bundle`, `opa build -b`)
 * refuses the bundle: a bundle OPA would not serve must not serve here either. Checked only
 * after the module parsed the data, so its own errors are reported as before; and here, in
 * whichever thread parses (a worker for large data), so a large data.json is not parsed on
 * the event loop. The BOM is kept and invalid UTF-8 refused, as the module refuses both.
 */
function assertOneJsonValue(data: ArrayBuffer): void {
  try {
    JSON.parse(new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(data));
  } catch (err) {
    throw new Error(`data.json is not one JSON value, as OPA requires: ${toError(err).message}`);
  }
}

let running = 0;

/** Worker threads parsing data now (tests, diagnostics). */
export function runningDataWorkers(): number {
  return running;
}

function defaultWorkerUrl(): URL {
  // Run from source (tsx: tests, development) the worker is the .ts beside this file; built, the .js.
  return new URL(import.meta.url.endsWith('.ts') ? './data-worker.ts' : './data-worker.js', import.meta.url);
}

function startWorker(url: URL): Worker {
  const resourceLimits = { stackSizeMb: WORKER_STACK_MB };
  if (!url.pathname.endsWith('.ts')) return new Worker(url, { resourceLimits });
  // From source: on Node 20 tsx hooks the main thread only, so the worker registers it before
  // loading its .ts (half a second more; the built gateway starts the .js directly).
  const tsx = import.meta.resolve('tsx/esm/api');
  const code = `import(${JSON.stringify(tsx)}).then((api) => { api.register(); return import(${JSON.stringify(url.href)}); })`;
  return new Worker(code, { eval: true, resourceLimits });
}

/** Parses `data` in a worker thread; the worker is gone when this settles, whichever way. */
function parseDataInWorker(request: DataParseRequest, options: DataParseOptions): Promise<DataImage> {
  const timeoutMs = options.timeoutMs ?? DATA_PARSE_TIMEOUT_MS;
  return new Promise<DataImage>((resolve, reject) => {
    const worker = startWorker(options.workerUrl ?? defaultWorkerUrl());
    running++;
    worker.once('exit', () => { running--; });
    let settled = false;
    // Settles once the worker has stopped: a load that failed leaves no thread parsing behind.
    const finish = (outcome: () => void): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      void worker.terminate().then(outcome, outcome);
    };
    const timer = setTimeout(() => {
      finish(() => { reject(new Error(`parsing it took over ${String(timeoutMs)} ms`)); });
    }, timeoutMs);
    worker.once('message', (reply: DataParseReply) => {
      finish(() => {
        if (reply.ok) resolve(reply.image);
        else reject(new Error(reply.message));
      });
    });
    worker.once('error', (err) => {
      finish(() => { reject(new Error(`the worker parsing it failed: ${toError(err).message}`)); });
    });
    worker.once('exit', (code) => {
      finish(() => { reject(new Error(`the worker parsing it exited with code ${String(code)}`)); });
    });
    // Copied, not transferred: the bundle keeps its bytes.
    worker.postMessage(request);
  });
}

/** The image of `data` parsed by `module`: here when small and shallow, else in a worker. Throws why it could not be made. */
export function parseData(request: DataParseRequest, options: DataParseOptions = {}): Promise<DataImage> {
  const small = request.data.byteLength <= (options.inlineBytes ?? INLINE_DATA_BYTES);
  // The scan of a small data.json takes well under a millisecond; a large one is scanned in the worker.
  if (small && nestingDepth(new Uint8Array(request.data), INLINE_DATA_DEPTH).depth <= INLINE_DATA_DEPTH) return parseDataHere(request);
  return parseDataInWorker(request, options);
}

/**
 * Gives a freshly loaded instance of the same module the data in `image`, as setData would
 * have. The copy runs in slices, the event loop turning between them; the instance must not be
 * used before this resolves.
 */
export async function applyDataImage(policy: LoadedPolicy, image: DataImage): Promise<void> {
  const state = stateOf(policy);
  const have = state.mem.buffer.byteLength / WASM_PAGE;
  // Throws (RangeError) past the memory's maximum, as the parse itself would have.
  if (have < image.pages) state.mem.grow(image.pages - have);
  const source = new Uint8Array(image.bytes);
  for (let offset = 0; offset < source.length; offset += COPY_SLICE_BYTES) {
    if (offset > 0) await new Promise<void>((resolve) => { setImmediate(resolve); });
    // The buffer is taken again each time: nothing grows this memory meanwhile, but that is cheap to not assume.
    new Uint8Array(state.mem.buffer).set(source.subarray(offset, offset + COPY_SLICE_BYTES), offset);
  }
  // The heap pointer is a C static, so it came with the memory. Were a module built to keep it
  // in a wasm global instead, the image would not be the parse's whole state: refuse it.
  const heapPtr = state.wasmInstance.exports.opa_heap_ptr_get();
  if (heapPtr !== image.dataHeapPtr) {
    throw new Error(`the module's heap pointer (${String(heapPtr)}) is not in its memory image (${String(image.dataHeapPtr)})`);
  }
  state.dataAddr = image.dataAddr;
  state.baseHeapPtr = image.baseHeapPtr;
  state.dataHeapPtr = image.dataHeapPtr;
}
