/**
 * Server settings: defaults, then `ISOHOOK_*` environment variables, then `serve` flags.
 * A value that does not parse is an error naming the setting, never silently a default.
 */
import path from "node:path";
import { parseDuration } from "./duration";

export interface Limits {
  /** Webhook request body, after any Content-Encoding is removed. */
  maxBodyBytes: number;
  syncTimeoutMs: number;
  sessionCpuMs: number;
  isolateMemoryMb: number;
  sessionTimeoutMs: number;
  maxRunning: number;
  maxUploadBytes: number;
}

export interface Settings {
  host: string;
  port: number;
  dataDir: string;
  /** Base of the webhook URLs the server prints and returns; `null`: the address it listens on. */
  publicUrl: string | null;
  /** `null`: read or create the token file in the data folder. */
  token: string | null;
  logLevel: string;
  /** Let `fetch` reach private and loopback addresses: for local development only. */
  fetchAllowPrivate: boolean;
  /** Processes the isolates run in; a crash of one costs only its sessions. */
  sandboxProcesses: number;
  /** How long ended sessions (with their logs) and events are kept; `null`: for ever. */
  retentionMs: number | null;
  limits: Limits;
}

/** The longest delay a Node timer takes (about 24.8 days); every duration setting fits in it. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

export const DEFAULT_LIMITS: Limits = {
  maxBodyBytes: 10 * 1024 * 1024,
  syncTimeoutMs: 30_000,
  sessionCpuMs: 5_000,
  isolateMemoryMb: 128,
  sessionTimeoutMs: 60 * 60 * 1000,
  maxRunning: 1_000,
  maxUploadBytes: 20 * 1024 * 1024,
};

/** Environment variable for each limit, as documented in the README. */
export const LIMIT_VARIABLES: Record<keyof Limits, string> = {
  maxBodyBytes: "ISOHOOK_MAX_BODY_BYTES",
  syncTimeoutMs: "ISOHOOK_SYNC_TIMEOUT_MS",
  sessionCpuMs: "ISOHOOK_SESSION_CPU_MS",
  isolateMemoryMb: "ISOHOOK_ISOLATE_MEMORY_MB",
  sessionTimeoutMs: "ISOHOOK_SESSION_TIMEOUT_MS",
  maxRunning: "ISOHOOK_MAX_RUNNING",
  maxUploadBytes: "ISOHOOK_MAX_UPLOAD_BYTES",
};

/** What `ISOHOOK_RETENTION` is when unset. */
export const DEFAULT_RETENTION = "30d";
/** Retention values that keep everything. */
const KEEP_FOREVER = ["0", "off", "forever"];
/** Less would prune sessions while their callers may still look them up. */
const MIN_RETENTION_MS = 60 * 60 * 1000;

export type SettingsOverrides = Partial<Omit<Settings, "limits" | "retentionMs">> & {
  limits?: Partial<Limits>;
  /** A duration string, as `ISOHOOK_RETENTION` takes it. */
  retention?: string;
};

export function loadSettings(
  env: NodeJS.ProcessEnv = process.env,
  overrides: SettingsOverrides = {},
): Settings {
  const host = overrides.host ?? env.ISOHOOK_HOST ?? "127.0.0.1";
  const port = overrides.port ?? integer("ISOHOOK_PORT", env.ISOHOOK_PORT, 9980, 0, 65535);
  const limits = { ...DEFAULT_LIMITS };
  for (const key of Object.keys(LIMIT_VARIABLES) as (keyof Limits)[]) {
    const name = LIMIT_VARIABLES[key];
    const max = key.endsWith("Ms") ? MAX_TIMER_MS : Number.MAX_SAFE_INTEGER;
    limits[key] = overrides.limits?.[key] ?? integer(name, env[name], DEFAULT_LIMITS[key], 1, max);
  }
  if (limits.isolateMemoryMb < 8) throw new Error("ISOHOOK_ISOLATE_MEMORY_MB must be at least 8");

  return {
    host,
    port,
    dataDir: path.resolve(overrides.dataDir ?? env.ISOHOOK_DATA ?? "data"),
    publicUrl: optionalUrl(overrides.publicUrl ?? env.ISOHOOK_PUBLIC_URL ?? null),
    token: overrides.token || env.ISOHOOK_TOKEN || null,
    logLevel: overrides.logLevel ?? env.ISOHOOK_LOG_LEVEL ?? "info",
    fetchAllowPrivate:
      overrides.fetchAllowPrivate ??
      flag("ISOHOOK_FETCH_ALLOW_PRIVATE", env.ISOHOOK_FETCH_ALLOW_PRIVATE),
    sandboxProcesses:
      overrides.sandboxProcesses ??
      integer("ISOHOOK_SANDBOX_PROCESSES", env.ISOHOOK_SANDBOX_PROCESSES, 2, 1, 64),
    retentionMs:
      overrides.retention !== undefined
        ? retention("--retention", overrides.retention)
        : retention("ISOHOOK_RETENTION", env.ISOHOOK_RETENTION),
    limits,
  };
}

/** Parse a whole number within bounds; `fallback` when the variable is unset or empty. */
export function integer(
  name: string,
  text: string | undefined,
  fallback: number,
  min = 0,
  max = Number.MAX_SAFE_INTEGER,
): number {
  if (text === undefined || text.trim() === "") return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new Error(
      `${name} must be a whole number from ${min} to ${max}, got ${JSON.stringify(text)}`,
    );
  }
  return value;
}

/** A duration of at least an hour ("30d", "12h"), or one of `KEEP_FOREVER`: `null`. */
export function retention(name: string, text: string | undefined): number | null {
  const value = text === undefined || text.trim() === "" ? DEFAULT_RETENTION : text.trim();
  if (KEEP_FOREVER.includes(value.toLowerCase())) return null;
  const parsed = parseDuration(value);
  if (parsed === null || parsed < MIN_RETENTION_MS) {
    throw new Error(
      `${name} must be a duration of at least 1h ("30d", "12h") or "off", got ${JSON.stringify(text)}`,
    );
  }
  return parsed;
}

function optionalUrl(url: string | null): string | null {
  if (url === null || url.trim() === "") return null;
  try {
    new URL(url);
  } catch {
    throw new Error(`ISOHOOK_PUBLIC_URL must be an absolute URL, got ${JSON.stringify(url)}`);
  }
  return url.replace(/\/+$/, "");
}

/** "1"/"true"/"yes" or "0"/"false"/"no" (any case); unset is false. */
function flag(name: string, text: string | undefined): boolean {
  if (text === undefined || text.trim() === "") return false;
  const value = text.trim().toLowerCase();
  if (["1", "true", "yes"].includes(value)) return true;
  if (["0", "false", "no"].includes(value)) return false;
  throw new Error(`${name} must be true or false, got ${JSON.stringify(text)}`);
}
