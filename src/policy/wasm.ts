// The slice of the WebAssembly JS API the engine uses. tsconfig's lib has no DOM and
// @types/node 20 does not declare the WebAssembly namespace, so it is typed here, locally.
export interface WasmMemoryDescriptor {
  initial: number;
  maximum?: number;
}

/** A compiled module: opaque to us, handed to opa-wasm's loadPolicy. */
export type WasmModule = object & { readonly __wasmModule?: never };

interface WasmApi {
  compile(bytes: Uint8Array): Promise<WasmModule>;
}

export const wasmApi = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;
