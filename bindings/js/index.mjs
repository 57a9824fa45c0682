// wasmops in JavaScript (Node >= 20 and browsers, no dependencies): compiled whole graphs (`loadGraph`), the op
// library and op-by-op programs exported by `wasmops export-program` (`loadOpLibrary`, `loadProgram`), .npy files.
export { GraphSession, loadGraph } from "./graph.mjs";
export { GraphIndexError, KernelError, LibraryError, WasmTrap, engineFeatures } from "./wasm.mjs";
export { TYPED, tensor } from "./tensor.mjs";
export { OpLibrary, ProgramSession, loadOpLibrary, loadProgram } from "./program.mjs";
export { readNpy, writeNpy } from "./npy.mjs";
