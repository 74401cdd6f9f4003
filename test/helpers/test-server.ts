/**
 * A real isohook server for a test: in this process, on a free loopback port, with its own
 * temporary data folder. `deploy` sends a project over the HTTP API like a user would.
 */
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import pino, { type Logger } from "pino";
import { create as createTar } from "tar";
import { loadSettings, type Limits } from "../../src/config";
import type { DeployResult } from "../../src/deploy/deployer";
import type { BodyCaps } from "../../src/webhooks/body-budget";
import { startServer, type RunningServer } from "../../src/server";
import Database from "better-sqlite3";

export const EXAMPLES = fileURLToPath(new URL("../../examples", import.meta.url));

export interface TestServer {
  server: RunningServer;
  url: string;
  token: string;
  dataDir: string;
  api(
    method: string,
    route: string,
    body?: RequestInit["body"],
    headers?: Record<string, string>,
  ): Promise<Response>;
  deployDir(dir: string): Promise<DeployResult>;
  deployFiles(files: Record<string, string>): Promise<Response>;
  /** The webhook URL of a trigger of the last deploy of its project. */
  webhook(result: DeployResult, trigger: string): string;
  /** Read-only view of the SQLite file, as a user would open it. */
  db(): Database.Database;
  /** Wait until a session reaches one of `states` (by reading the API). */
  waitForSession(id: string, states?: string[]): Promise<Record<string, unknown>>;
  log(id: string): Promise<{ seq: number; kind: string; data: Record<string, any> }[]>;
  close(): Promise<void>;
}

export async function startTestServer(
  options: {
    limits?: Partial<Limits>;
    dataDir?: string;
    fetchAllowPrivate?: boolean;
    bodyCaps?: BodyCaps;
    /** Where the server log goes; silent by default (ISOHOOK_TEST_LOG sets a level). */
    logger?: Logger;
    sandboxProcesses?: number;
  } = {},
): Promise<TestServer> {
  const dataDir = options.dataDir ?? mkdtempSync(path.join(os.tmpdir(), "isohook-test-"));
  const settings = loadSettings(
    {},
    {
      host: "127.0.0.1",
      port: 0,
      dataDir,
      token: "test-token",
      limits: options.limits ?? {},
      fetchAllowPrivate: options.fetchAllowPrivate ?? false,
      ...(options.sandboxProcesses === undefined
        ? {}
        : { sandboxProcesses: options.sandboxProcesses }),
    },
  );
  const server = await startServer({
    settings,
    bodyCaps: options.bodyCaps,
    logger: options.logger ?? pino({ level: process.env.ISOHOOK_TEST_LOG ?? "silent" }),
  });
  const url = server.url;
  const auth = { authorization: `Bearer ${server.token}` };
  let readonlyDb: Database.Database | undefined;

  const api: TestServer["api"] = (method, route, body, headers = {}) =>
    fetch(url + route, { method, body, headers: { ...auth, ...headers } });

  return {
    server,
    url,
    token: server.token,
    dataDir,
    api,
    async deployDir(dir) {
      const response = await api("POST", "/api/deploy", await tarball(dir), {
        "content-type": "application/gzip",
      });
      const json = (await response.json()) as DeployResult;
      if (response.status !== 201)
        throw new Error(`deploy of ${dir} failed: ${response.status} ${JSON.stringify(json)}`);
      return json;
    },
    deployFiles(files) {
      const form = new FormData();
      for (const [name, text] of Object.entries(files)) form.append("file", new Blob([text]), name);
      return api("POST", "/api/deploy", form);
    },
    webhook(result, trigger) {
      const found = result.triggers.find((t) => t.name === trigger);
      if (!found) throw new Error(`no trigger ${trigger} in ${result.project}`);
      return found.webhook_url;
    },
    db() {
      readonlyDb ??= new Database(path.join(dataDir, "isohook.db"), { readonly: true });
      return readonlyDb;
    },
    async waitForSession(id, states = ["completed", "error", "stopped"]) {
      const deadline = Date.now() + 10_000;
      for (;;) {
        const response = await api("GET", `/api/sessions/${id}`);
        if (response.status === 200) {
          const session = (await response.json()) as Record<string, unknown>;
          if (states.includes(session.state as string)) return session;
        }
        if (Date.now() > deadline)
          throw new Error(`session ${id} did not reach ${states.join("/")}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    async log(id) {
      const response = await api("GET", `/api/sessions/${id}/log`);
      return (
        (await response.json()) as {
          log: { seq: number; kind: string; data: Record<string, any> }[];
        }
      ).log;
    },
    async close() {
      readonlyDb?.close();
      await server.close();
      if (options.dataDir === undefined) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** A project folder as the `.tar.gz` the API takes. */
export async function tarball(dir: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of createTar({ gzip: true, cwd: dir, portable: true }, ["."]))
    chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}
