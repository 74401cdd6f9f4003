/**
 * Freezing what the runtime's values reach. `harden(globalThis)` freezes every global and all
 * it reaches, but a value the runtime makes can reach more than its class does: a `URL` holds
 * whatwg-url's implementation object under a symbol, whose prototype (the implementation class)
 * the global `URL` never leads to, and a URLSearchParams iterator inherits from a prototype of
 * whatwg-url's own. Every session reaches those same objects, so one session could change them
 * under another (one did: it redefined `href` there and read later sessions' URLs).
 *
 * So the runtime makes a value of each such kind and hardens it: `harden` walks own properties
 * (symbol keys too), getters, setters and prototypes, and so freezes all the value reaches; the
 * value is then thrown away. Sampling values rather than naming the classes needs no knowledge
 * of a package's internals, and keeps working when they change.
 *
 * Which kinds: those whose values can reach objects the globals do not, which today are only
 * whatwg-url's. Headers, Request, Response, TextEncoder, TextDecoder, DOMException and CryptoKey
 * keep their state in private fields, which user code cannot reach; their prototypes, and the
 * prototypes of Headers' iterators (generator methods' own `prototype`), are reached from the
 * globals; and `structuredClone` makes only built-in kinds. The cheap ones among them are
 * sampled anyway, in case that changes. The hostile test `leak-via-shared-object` walks, from
 * user code, everything values of every kind reach, and fails on anything shared and not
 * frozen: a new kind that reaches more needs a sample here.
 *
 * Cost, once per context: about 2 ms of the isolate's CPU (of some 45 ms for the whole setup),
 * most of it compiling whatwg-url's parser, which a session's first URL would otherwise do. The
 * URL is one with no host, because parsing a host compiles the IDNA code, twice the cost.
 */
import { TextDecoder, TextEncoder } from "./encoding";
import { DOMException } from "./web/dom-exception";
import { Headers } from "./web/headers";
import { Response } from "./web/response";
import { URL } from "./web/url";

/** Harden a value of every kind the runtime hands to user code; once per context. */
export function hardenRuntimeValues(): void {
  const url = new URL("sample:");
  harden([
    url,
    url.searchParams,
    url.searchParams.keys(),
    new Headers(),
    new Headers().keys(),
    new Response(),
    new TextEncoder(),
    new TextDecoder(),
    new DOMException(),
  ]);
}
