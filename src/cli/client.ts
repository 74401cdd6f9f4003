/**
 * The CLI's way to the server: its URL and token from flags, the environment, or the local
 * data folder the server wrote them to.
 */
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { TOKEN_FILE } from "../http/auth";

export const SERVER_FILE = "server.json";

export interface ClientOptions {
  url?: string;
  token?: string;
  data?: string;
}

export class ApiClient {
  readonly url: string;
  readonly #token: string | null;

  constructor(options: ClientOptions, env: NodeJS.ProcessEnv = process.env) {
    const dataDir = path.resolve(options.data ?? env.ISOHOOK_DATA ?? "data");
    this.url = (
      options.url ||
      env.ISOHOOK_URL ||
      readServerUrl(dataDir) ||
      "http://127.0.0.1:9980"
    ).replace(/\/+$/, "");
    this.#token = options.token || env.ISOHOOK_TOKEN || readToken(dataDir);
  }

  async request<T>(
    method: string,
    route: string,
    body?: { data: Buffer; type: string },
  ): Promise<T> {
    if (this.#token === null) {
      throw new CliError(
        "no API token: pass --token, set ISOHOOK_TOKEN, or run from the folder holding data/token",
      );
    }
    let response: Response;
    try {
      response = await fetch(this.url + route, {
        method,
        headers: {
          authorization: `Bearer ${this.#token}`,
          ...(body ? { "content-type": body.type } : {}),
        },
        body: body?.data,
      });
    } catch (error) {
      throw new CliError(
        `cannot reach the isohook server at ${this.url}: ${(error as Error).cause ?? (error as Error).message}`,
      );
    }
    const text = await response.text();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new CliError(
        `the server answered ${response.status} with something that is not JSON: ${text.slice(0, 200)}`,
      );
    }
    if (!response.ok) throw new ApiError(response.status, json as ApiErrorBody);
    return json as T;
  }
}

export interface ApiErrorBody {
  error: string;
  code?: string;
  details?: { file: string | null; line: number | null; column: number | null; message: string }[];
}

/** A failure to report to the user as it is, without a stack. */
export class CliError extends Error {}

export class ApiError extends CliError {
  readonly status: number;
  readonly body: ApiErrorBody;

  constructor(status: number, body: ApiErrorBody) {
    super(body.error ?? `the server answered ${status}`);
    this.status = status;
    this.body = body;
  }
}

function readServerUrl(dataDir: string): string | null {
  const file = path.join(dataDir, SERVER_FILE);
  if (!existsSync(file)) return null;
  try {
    return (JSON.parse(readFileSync(file, "utf8")) as { url?: string }).url ?? null;
  } catch {
    return null;
  }
}

function readToken(dataDir: string): string | null {
  const file = path.join(dataDir, TOKEN_FILE);
  if (!existsSync(file)) return null;
  const token = readFileSync(file, "utf8").trim();
  return token === "" ? null : token;
}
