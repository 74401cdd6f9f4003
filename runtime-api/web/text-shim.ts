/**
 * Injected by esbuild where bundled packages (whatwg-url) read `TextEncoder`/`TextDecoder` as
 * globals: the runtime's globals are only installed after the packages have loaded.
 */
export { TextDecoder, TextEncoder } from "../encoding";
