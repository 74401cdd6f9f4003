/**
 * `URL` and `URLSearchParams`: the WHATWG URL Standard's reference implementation
 * (`whatwg-url`, the one jsdom uses), bundled into the runtime.
 */
export { URL, URLSearchParams } from "whatwg-url";
