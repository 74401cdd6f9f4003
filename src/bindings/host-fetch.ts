/**
 * The host's side of `fetch`. Each hop of a request (the first and every redirect) is checked
 * against the project's `allow_net` before anything leaves the machine; names are resolved
 * here, every address checked, and the connection made to the address that was checked, so a
 * name that resolves (or re-resolves) to a private address cannot slip through. Bodies are
 * whole, in both directions, and bounded; so are the fetches in flight and the bytes they hold
 * (request and response bodies), per session, per project and for the whole server. A fetch
 * still in flight when its session ends is aborted.
 */
import { lookup as dnsLookup, type LookupAddress } from "node:dns";
import type { LookupFunction } from "node:net";
import { Agent, fetch as undiciFetch } from "undici";
import type { WireRequest, WireResponse } from "../../sandbox";
import { Tally, type TallyLevel, type WorkOwner } from "./host-work";
import { hostAllowed, isPublicAddress, NetworkRefusedError } from "./net-policy";

/** Where a refusal points a developer who meant to reach a server of their own. */
const PRIVATE_HINT = " (the server allows private addresses with ISOHOOK_FETCH_ALLOW_PRIVATE=1)";

export interface FetchPolicy {
  allowNet: readonly string[];
  /** Let `fetch` reach private and loopback addresses (local development only). */
  allowPrivate: boolean;
  timeoutMs: number;
  maxResponseBytes: number;
}

const MAX_REDIRECTS = 20;
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);

const MIB = 1024 * 1024;
/** Fetches in flight at once: a session's, a project's (a quarter of the server's), all. */
const MAX_FETCHES: Record<TallyLevel, number> = { session: 16, project: 64, server: 256 };
/**
 * Body bytes (requests' from the call until the request is done, responses' as they arrive)
 * the fetches in flight may hold at once: a session's, a project's, all.
 */
const MAX_BYTES: Record<TallyLevel, number> = {
  session: 32 * MIB,
  project: 64 * MIB,
  server: 256 * MIB,
};

const FETCHES_REFUSED: Record<TallyLevel, string> = {
  session: `fetch: a session may have at most ${MAX_FETCHES.session} fetches in flight`,
  project:
    `fetch: a project may have at most ${MAX_FETCHES.project} fetches in flight; ` +
    "try again later",
  server: "fetch: the server has too many fetches in flight; try again later",
};
const BYTES_REFUSED: Record<TallyLevel, string> = {
  session:
    `fetch: a session's fetches may hold at most ${MAX_BYTES.session / MIB} MiB ` +
    "of bodies at once",
  project:
    `fetch: a project's fetches may hold at most ${MAX_BYTES.project / MIB} MiB ` +
    "of bodies at once; try again later",
  server: "fetch: the server holds too many bytes of fetches in flight; try again later",
};

/**
 * Request headers the server sets itself (as the Fetch Standard forbids scripts to): a wrong
 * Content-Length would hang the request, a Host would aim it elsewhere.
 */
const FORBIDDEN_REQUEST_HEADERS = new Set([
  "accept-charset",
  "accept-encoding",
  "access-control-request-headers",
  "access-control-request-method",
  "connection",
  "content-length",
  "date",
  "dnt",
  "expect",
  "host",
  "keep-alive",
  "origin",
  "referer",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  "via",
  "proxy-connection",
]);
/** Headers that carry credentials: not sent on to another origin when a redirect leads there. */
const CREDENTIAL_HEADERS = new Set(["authorization", "cookie", "cookie2", "proxy-authorization"]);

/** The server's fetcher: one connection pool, and the limits of what fetches may hold. */
export class Fetcher {
  readonly #agent: Agent;
  readonly #fetches = new Tally(MAX_FETCHES);
  readonly #bytes = new Tally(MAX_BYTES);

  constructor(allowPrivate: boolean) {
    // The pool's lookup refuses private addresses unless they are allowed.
    this.#agent = new Agent({ connect: { lookup: checkedLookup(allowPrivate) } });
  }

  /** Fetches in flight, server-wide. */
  get inFlight(): number {
    return this.#fetches.held;
  }

  /** Body bytes the fetches in flight hold, server-wide. */
  get bytesInFlight(): number {
    return this.#bytes.held;
  }

  /**
   * Fetch for `owner`. When `signal` aborts (the session ended), the fetch is abandoned and
   * rejects with the signal's reason.
   */
  async fetch(
    owner: WorkOwner,
    request: WireRequest,
    policy: FetchPolicy,
    signal: AbortSignal,
  ): Promise<WireResponse> {
    signal.throwIfAborted();
    const refused = this.#fetches.take(owner, 1);
    if (refused !== null) throw new NetworkRefusedError(FETCHES_REFUSED[refused]);
    const sent = request.body?.byteLength ?? 0;
    const tooMany = this.#bytes.take(owner, sent);
    if (tooMany !== null) {
      this.#fetches.give(owner, 1);
      throw new NetworkRefusedError(BYTES_REFUSED[tooMany]);
    }
    const budget: ByteBudget = {
      reserve: (bytes) => this.#bytes.take(owner, bytes),
      release: (bytes) => this.#bytes.give(owner, bytes),
    };
    try {
      return await hostFetch(request, policy, this.#agent, signal, budget);
    } catch (error) {
      if (signal.aborted) throw signal.reason;
      throw error;
    } finally {
      this.#fetches.give(owner, 1);
      this.#bytes.give(owner, sent);
    }
  }

  close(): Promise<void> {
    return this.#agent.close();
  }
}

/** Room for response bytes: `reserve` answers `null` when taken, else the level that is full. */
interface ByteBudget {
  reserve(bytes: number): TallyLevel | null;
  release(bytes: number): void;
}

async function hostFetch(
  request: WireRequest,
  policy: FetchPolicy,
  agent: Agent,
  sessionEnded: AbortSignal,
  budget: ByteBudget,
): Promise<WireResponse> {
  const signal = AbortSignal.any([AbortSignal.timeout(policy.timeoutMs), sessionEnded]);
  let url = new URL(request.url);
  let method = request.method;
  let body = request.body;
  let headers = request.headers.filter(([name]) => !isForbidden(name.toLowerCase()));

  for (let redirects = 0; ; redirects++) {
    checkHop(url, policy);
    let response: Awaited<ReturnType<typeof undiciFetch>>;
    try {
      response = await undiciFetch(url, {
        method,
        headers,
        body: body ?? undefined,
        redirect: "manual",
        dispatcher: agent,
        signal,
      });
    } catch (error) {
      throw new NetworkRefusedError(describeFailure(url, error, policy));
    }

    const location = response.headers.get("location");
    if (
      !REDIRECT_STATUSES.has(response.status) ||
      location === null ||
      request.redirect === "manual"
    ) {
      const bytes = await readBounded(response, policy.maxResponseBytes, url, budget);
      return {
        url: url.href,
        redirected: redirects > 0,
        status: response.status,
        status_text: response.statusText,
        headers: [...response.headers],
        body: bytes,
      };
    }
    await response.body?.cancel();
    if (request.redirect === "error")
      throw new NetworkRefusedError(`fetch: ${url.href} redirected, and redirect is "error"`);
    if (redirects >= MAX_REDIRECTS)
      throw new NetworkRefusedError(`fetch: more than ${MAX_REDIRECTS} redirects`);

    const next = new URL(location, url);
    // As the Fetch Standard says: 303 (and 301/302 after POST) become GET without a body.
    if (
      response.status === 303
        ? method !== "HEAD"
        : (response.status === 301 || response.status === 302) && method === "POST"
    ) {
      method = "GET";
      body = null;
      headers = headers.filter(([name]) => !name.toLowerCase().startsWith("content-"));
    }
    if (next.origin !== url.origin) {
      headers = headers.filter(([name]) => !CREDENTIAL_HEADERS.has(name.toLowerCase()));
    }
    url = next;
  }
}

function checkHop(url: URL, policy: FetchPolicy): void {
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new NetworkRefusedError(
      `fetch: only http and https URLs can be fetched, not ${url.protocol}`,
    );
  }
  if (!hostAllowed(url, policy.allowNet)) {
    const allowed =
      policy.allowNet.length === 0
        ? "allow_net is empty"
        : `allow_net is ${policy.allowNet.join(", ")}`;
    throw new NetworkRefusedError(
      `fetch: ${url.host} is not in the project's allow_net (${allowed})`,
    );
  }
  // An address literal is connected to as it is, without a lookup: check it here.
  const literal = url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname;
  if (/^[\d.]+$|:/.test(literal) && !policy.allowPrivate && !isPublicAddress(literal)) {
    throw new NetworkRefusedError(`fetch: ${url.hostname} is not a public address${PRIVATE_HINT}`);
  }
}

function checkedLookup(allowPrivate: boolean): LookupFunction {
  return (hostname, options, callback) => {
    dnsLookup(hostname, { ...options, all: true }, (error, addresses) => {
      if (error) return callback(error, "", 0);
      const list = addresses as LookupAddress[];
      const refused = list.find((a) => !allowPrivate && !isPublicAddress(a.address));
      if (refused !== undefined || list.length === 0) {
        const refusal = new NetworkRefusedError(
          `fetch: ${hostname} resolves to ${refused?.address ?? "nothing"}, which is not a public address${PRIVATE_HINT}`,
        );
        return callback(refusal as NodeJS.ErrnoException, "", 0);
      }
      if ((options as { all?: boolean }).all)
        return (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, list);
      callback(null, list[0]!.address, list[0]!.family);
    });
  };
}

async function readBounded(
  response: Awaited<ReturnType<typeof undiciFetch>>,
  maxBytes: number,
  url: URL,
  budget: ByteBudget,
): Promise<Uint8Array> {
  const reader = response.body?.getReader();
  if (reader === undefined) return new Uint8Array(0);
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (total + value.length > maxBytes) {
        await reader.cancel();
        throw new NetworkRefusedError(
          `fetch: the response from ${url.host} is larger than ${maxBytes} bytes`,
        );
      }
      const full = budget.reserve(value.length);
      if (full !== null) {
        await reader.cancel();
        throw new NetworkRefusedError(BYTES_REFUSED[full]);
      }
      total += value.length;
      chunks.push(value);
    }
    const out = new Uint8Array(total);
    let offset = 0;
    for (const chunk of chunks) {
      out.set(chunk, offset);
      offset += chunk.length;
    }
    return out;
  } finally {
    budget.release(total);
  }
}

function isForbidden(name: string): boolean {
  return (
    FORBIDDEN_REQUEST_HEADERS.has(name) || name.startsWith("proxy-") || name.startsWith("sec-")
  );
}

function describeFailure(url: URL, error: unknown, policy: FetchPolicy): string {
  let cause: unknown = error;
  while (cause instanceof Error && cause.cause !== undefined) {
    if (cause instanceof NetworkRefusedError) break;
    cause = cause.cause;
  }
  if (cause instanceof NetworkRefusedError) return cause.message;
  if (error instanceof Error && error.name === "TimeoutError") {
    return `fetch: ${url.host} did not answer within ${policy.timeoutMs} ms`;
  }
  const message = cause instanceof Error ? cause.message : String(cause);
  return `fetch: ${url.host} failed: ${message}`;
}
