/**
 * How the benchmark learns that a `first` session has subscribed: the session tells it, with
 * a `fetch` to this listener on 127.0.0.1 (`?notify=<url>` on the first request), right after
 * `subscribe`. The `second` request can then be sent once, when it will be seen, instead of
 * again and again until the first answers.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

export class SubscribedSignals {
  readonly #server: Server;
  readonly #waiting = new Map<string, () => void>();
  /** Ids signalled before anyone waited for them. */
  readonly #early = new Set<string>();

  private constructor(server: Server) {
    this.#server = server;
    server.on("request", (req, res) => {
      const id = new URL(req.url ?? "/", "http://127.0.0.1").searchParams.get("id") ?? "";
      req.resume();
      res.end();
      const resolve = this.#waiting.get(id);
      this.#waiting.delete(id);
      if (resolve !== undefined) resolve();
      else this.#early.add(id);
    });
  }

  static async start(): Promise<SubscribedSignals> {
    const server = createServer();
    server.keepAliveTimeout = 60_000;
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return new SubscribedSignals(server);
  }

  /** The URL a first request passes as `notify`. */
  get url(): string {
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}/subscribed`;
  }

  /** Resolves once the session for `id` has subscribed. */
  subscribed(id: string): Promise<void> {
    if (this.#early.delete(id)) return Promise.resolve();
    return new Promise((resolve) => this.#waiting.set(id, resolve));
  }

  close(): void {
    this.#server.closeAllConnections();
    this.#server.close();
  }
}
