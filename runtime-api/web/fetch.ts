/**
 * `fetch`: the request is built and checked here, then carried whole to the host, which
 * enforces the project's `allow_net`, refuses private and loopback addresses, follows
 * redirects itself (checking each hop), and returns the whole response.
 */
import type { SessionRegistry } from "../sessions";
import { Request, type RequestInit } from "./request";
import { Response } from "./response";
import type { URL } from "./url";

const MAX_HEADERS = 100;
const MAX_HEADER_BYTES = 64 * 1024;

export function createFetch(registry: SessionRegistry, maxBodyBytes: number) {
  return async function fetch(
    input: string | URL | Request,
    init?: RequestInit,
  ): Promise<Response> {
    const session = registry.current("fetch");
    const request = Request.toWire(new Request(input, init));
    if (request.body !== null && request.body.byteLength > maxBodyBytes) {
      throw new TypeError(
        `fetch: the request body is larger than the limit of ${maxBodyBytes} bytes`,
      );
    }
    const headerBytes = request.headers.reduce(
      (sum, [name, value]) => sum + name.length + value.length,
      0,
    );
    if (request.headers.length > MAX_HEADERS || headerBytes > MAX_HEADER_BYTES) {
      throw new TypeError(
        `fetch: at most ${MAX_HEADERS} request headers, ${MAX_HEADER_BYTES} bytes in all`,
      );
    }
    const answer = await registry.callHostAsync(session, "fetch", [request]);
    return Response.fromWire(answer);
  };
}
