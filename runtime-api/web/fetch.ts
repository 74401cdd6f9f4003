/**
 * `fetch`: the request is built and checked here, then carried whole to the host, which
 * enforces the project's `allow_net`, refuses private and loopback addresses, follows
 * redirects itself (checking each hop), and returns the whole response.
 */
import type { SessionRegistry } from "../sessions";
import { Request, type RequestInit } from "./request";
import { Response } from "./response";
import type { URL } from "./url";

export function createFetch(registry: SessionRegistry) {
  return async function fetch(
    input: string | URL | Request,
    init?: RequestInit,
  ): Promise<Response> {
    const session = registry.current("fetch");
    const request = new Request(input, init);
    const answer = await registry.callHostAsync(session, "fetch", [Request.toWire(request)]);
    return Response.fromWire(answer);
  };
}
