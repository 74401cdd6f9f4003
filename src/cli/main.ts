/**
 * `isohook`: run the server, deploy projects to it, and look at sessions and events.
 */
import { Command, Option } from "commander";
import { existsSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { create as createTar } from "tar";
import {
  DEFAULT_LIMITS,
  DEFAULT_RETENTION,
  LIMIT_VARIABLES,
  integer,
  loadSettings,
  type Limits,
} from "../config";
import type { DeployResult } from "../deploy/deployer";
import { MANIFEST_FILE } from "../deploy/manifest";
import { projectFilePaths } from "../deploy/project-folder";
import { banner } from "./banner";
import { ApiClient, ApiError, CliError, SERVER_FILE, type ClientOptions } from "./client";
import { logLine, problemLine, runsLabel, table, visible, type LogEntry } from "./format";

/** How much of an event's body `isohook event` prints unless asked for all of it. */
const SHOWN_BODY_CHARS = 65_536;

/** A body as printed: cut, saying so, unless `full`. */
function shownBody(text: string, full: boolean): string {
  if (full || text.length <= SHOWN_BODY_CHARS) return text;
  // Not between the two halves of a character outside the BMP (an emoji).
  const high = text.charCodeAt(SHOWN_BODY_CHARS - 1);
  const end = high >= 0xd800 && high <= 0xdbff ? SHOWN_BODY_CHARS - 1 : SHOWN_BODY_CHARS;
  return `${text.slice(0, end)}\n(… ${text.length - end} more characters; --full prints them)`;
}

/** A stop signal this soon after the first is the same interrupt, delivered twice. */
const REPEATED_SIGNAL_MS = 1000;

const program = new Command("isohook")
  .description("Run TypeScript behind webhooks, each session in a V8 isolate, recorded in SQLite.")
  .showHelpAfterError()
  .configureHelp({ showGlobalOptions: true })
  // Before or after the command's name, as the user likes: `isohook --url U projects` too.
  .option("--data <dir>", "data folder (ISOHOOK_DATA, default ./data)")
  .option(
    "--token <token>",
    "API token (ISOHOOK_TOKEN; default: the one in the data folder, which serve generates)",
  )
  .option("--url <url>", "server URL (ISOHOOK_URL, or the one serve wrote in the data folder)");
// The global options reach each command's own flags.
program.hook("preAction", (root, command) => {
  for (const [name, value] of Object.entries(root.opts()))
    if (command.getOptionValue(name) === undefined) command.setOptionValue(name, value);
});

const LIMIT_FLAGS: Record<keyof Limits, string> = {
  maxBodyBytes: "--max-body-bytes <n>",
  syncTimeoutMs: "--sync-timeout-ms <n>",
  sessionCpuMs: "--session-cpu-ms <n>",
  isolateMemoryMb: "--isolate-memory-mb <n>",
  sessionTimeoutMs: "--session-timeout-ms <n>",
  maxRunning: "--max-running <n>",
  maxUploadBytes: "--max-upload-bytes <n>",
};

const serve = program
  .command("serve")
  .description("start the server")
  .option("--host <host>", "address to listen on (ISOHOOK_HOST, default 127.0.0.1)")
  .option("--port <port>", "port to listen on (ISOHOOK_PORT, default 9980)")
  .option("--public-url <url>", "base of the webhook URLs shown (ISOHOOK_PUBLIC_URL)")
  .option(
    "--deploy <dir...>",
    "deploy these project folders at start (a folder of projects deploys each)",
  )
  .option("--log-level <level>", "trace, debug, info, warn or error (ISOHOOK_LOG_LEVEL)")
  .option(
    "--retention <duration>",
    `how long ended sessions and events are kept, or "off" (ISOHOOK_RETENTION, default ${DEFAULT_RETENTION})`,
  );
for (const key of Object.keys(LIMIT_FLAGS) as (keyof Limits)[]) {
  serve.addOption(
    new Option(LIMIT_FLAGS[key], `${LIMIT_VARIABLES[key]}, default ${DEFAULT_LIMITS[key]}`),
  );
}
serve.action(async (flags: Record<string, string | string[] | undefined>) => {
  const limits: Partial<Limits> = {};
  for (const key of Object.keys(LIMIT_FLAGS) as (keyof Limits)[]) {
    const text = flags[key] as string | undefined;
    if (text !== undefined)
      limits[key] = integer(LIMIT_FLAGS[key].split(" ")[0]!, text, DEFAULT_LIMITS[key], 1);
  }
  const settings = loadSettings(process.env, {
    host: flags.host as string | undefined,
    port:
      flags.port === undefined
        ? undefined
        : integer("--port", flags.port as string, 9980, 0, 65535),
    dataDir: flags.data as string | undefined,
    publicUrl: flags.publicUrl as string | undefined,
    token: flags.token as string | undefined,
    logLevel: flags.logLevel as string | undefined,
    retention: flags.retention as string | undefined,
    limits,
  });
  // Loaded here, not at the top: only `serve` needs isolated-vm (and --no-node-snapshot).
  const { startServer } = await import("../server");
  const { createLogger } = await import("../log");
  const logger = createLogger(settings.logLevel);
  const server = await startServer({
    settings,
    logger,
    deployDirs: projectFolders((flags.deploy as string[] | undefined) ?? []),
  });
  writeFileSync(
    path.join(server.dataDir, SERVER_FILE),
    JSON.stringify({ url: server.url, pid: process.pid }) + "\n",
  );
  // The banner goes to stderr, so that stdout carries only log lines.
  process.stderr.write(banner(server));

  let stoppingSince: number | null = null;
  const shutdown = async () => {
    // Ctrl-C in a terminal signals the whole process group, and `bin/isohook.js` passes it on
    // too: the same interrupt arrives twice at once. Only a signal well after the first one
    // is someone asking again, and stops the server without waiting.
    if (stoppingSince !== null) {
      if (Date.now() - stoppingSince < REPEATED_SIGNAL_MS) return;
      logger.warn("asked again: stopping now, without waiting for the sessions");
      process.exit(1);
    }
    stoppingSince = Date.now();
    logger.info("shutting down");
    await server.close();
    rmSync(path.join(server.dataDir, SERVER_FILE), { force: true });
    process.exit(0);
  };
  process.on("SIGINT", () => void shutdown());
  process.on("SIGTERM", () => void shutdown());
  stopWithParent(shutdown);
});

program
  .command("deploy <dir>")
  .description("deploy the project in a folder")
  .action(async (dir: string, flags: ClientOptions) => {
    const client = new ApiClient(flags);
    if (!existsSync(path.join(dir, MANIFEST_FILE)))
      throw new CliError(`${dir} has no ${MANIFEST_FILE}`);
    const archive = await packFolder(dir);
    const result = await client.request<DeployResult>("POST", "/api/deploy", {
      data: archive,
      type: "application/gzip",
    });
    console.log(visible(`deployed ${result.project} (${result.deployment_id})`));
    for (const warning of result.warnings) console.log(visible(`warning: ${warning}`));
    console.log(
      table(
        ["trigger", "runs", "webhook url"],
        result.triggers.map((t) => [t.name, runsLabel(t), t.webhook_url]),
      ),
    );
  });

program
  .command("projects")
  .description("list deployed projects")
  .action(async (flags: ClientOptions) => {
    const { projects } = await new ApiClient(flags).request<{
      projects: {
        name: string;
        active_deployment_id: string;
        updated_at: string;
        triggers: unknown[];
      }[];
    }>("GET", "/api/projects");
    console.log(
      table(
        ["name", "deployment", "triggers", "updated"],
        projects.map((p) => [
          p.name,
          p.active_deployment_id,
          String(p.triggers.length),
          p.updated_at,
        ]),
      ),
    );
  });

program
  .command("sessions")
  .description("list recent sessions")
  .option("--project <name>", "only this project's")
  .option("--state <state>", "only in this state: created, running, completed, error, stopped")
  .option("--limit <n>", "how many (default 50)")
  .option("--before <id>", "only sessions older than this one (the next page)")
  .action(async (flags: ClientOptions & SessionFlags) => {
    const query = new URLSearchParams();
    if (flags.project) query.set("project", flags.project);
    if (flags.state) query.set("state", flags.state);
    if (flags.limit) query.set("limit", flags.limit);
    if (flags.before) query.set("before", flags.before);
    const { sessions } = await new ApiClient(flags).request<{
      sessions: Record<string, string | null>[];
    }>("GET", `/api/sessions?${query}`);
    console.log(
      table(
        ["id", "project", "trigger", "state", "created", "error"],
        sessions.map((s) => [
          s.id!,
          s.project!,
          s.trigger!,
          s.state!,
          s.created_at!,
          s.error ?? "",
        ]),
      ),
    );
  });

interface SessionFlags {
  project?: string;
  state?: string;
  limit?: string;
  before?: string;
}

const session = program.command("session").description("one session");
session
  .command("log <id>")
  .description("print a session's log")
  .action(async (id: string, flags: ClientOptions) => {
    const { log } = await new ApiClient(flags).request<{ log: LogEntry[] }>(
      "GET",
      `/api/sessions/${encodeURIComponent(id)}/log`,
    );
    for (const entry of log) console.log(logLine(entry));
  });
session
  .command("stop <id>")
  .description("stop a running session")
  .action(async (id: string, flags: ClientOptions) => {
    const stopped = await new ApiClient(flags).request<{ id: string; state: string }>(
      "POST",
      `/api/sessions/${encodeURIComponent(id)}/stop`,
    );
    console.log(visible(`${stopped.id}: ${stopped.state}`));
  });

program
  .command("event <id>")
  .description("print one event: its request and body")
  .option("--full", `the whole body, not only its first ${SHOWN_BODY_CHARS} characters`)
  .action(async (id: string, flags: ClientOptions & { full?: boolean }) => {
    const event = await new ApiClient(flags).request<{
      id: string;
      project: string;
      trigger: string;
      created_at: string;
      data: { method: string; raw_url: string; headers: Record<string, string> };
      body_bytes: number;
      body?: string;
      body_base64?: string;
    }>("GET", `/api/events/${encodeURIComponent(id)}`);
    const lines = [
      `${event.id}  ${event.project}/${event.trigger}  ${event.created_at}`,
      `${event.data.method} ${event.data.raw_url}`,
      ...Object.entries(event.data.headers).map(([name, value]) => `${name}: ${value}`),
      "",
      shownBody(
        event.body ?? `(${event.body_bytes} bytes, base64) ${event.body_base64 ?? ""}`,
        flags.full === true,
      ),
    ];
    // Line by line: control characters a caller sent show as escapes, newlines as newlines.
    console.log(
      lines
        .flatMap((line) => line.split("\n"))
        .map(visible)
        .join("\n"),
    );
  });

program
  .command("events")
  .description("list recent events")
  .option("--project <name>", "only this project's")
  .option("--limit <n>", "how many (default 50)")
  .option("--before <id>", "only events older than this one (the next page)")
  .action(async (flags: ClientOptions & { project?: string; limit?: string; before?: string }) => {
    const query = new URLSearchParams();
    if (flags.project) query.set("project", flags.project);
    if (flags.limit) query.set("limit", flags.limit);
    if (flags.before) query.set("before", flags.before);
    const { events } = await new ApiClient(flags).request<{
      events: {
        id: string;
        project: string;
        trigger: string;
        event_type: string;
        created_at: string;
        data: { raw_url: string };
      }[];
    }>("GET", `/api/events?${query}`);
    console.log(
      table(
        ["id", "project", "trigger", "method", "created", "url"],
        events.map((e) => [
          e.id,
          e.project,
          e.trigger,
          e.event_type.toUpperCase(),
          e.created_at,
          e.data.raw_url,
        ]),
      ),
    );
  });

/**
 * When `bin/isohook.js` started this process (to add --no-node-snapshot), stop once it is
 * gone: a SIGKILL of the command the user started must not leave the server running.
 */
function stopWithParent(shutdown: () => void): void {
  const parent = Number(process.env.ISOHOOK_PARENT_PID);
  if (!Number.isInteger(parent) || parent <= 0) return;
  const watch = setInterval(() => {
    if (process.ppid === parent) return;
    clearInterval(watch);
    shutdown();
  }, 500).unref();
}

/** Each folder given, or each project folder inside it when it holds no manifest itself. */
function projectFolders(dirs: string[]): string[] {
  return dirs.flatMap((dir) => {
    if (existsSync(path.join(dir, MANIFEST_FILE))) return [dir];
    if (!existsSync(dir) || !statSync(dir).isDirectory())
      throw new CliError(`${dir} is not a folder`);
    return readdirSync(dir)
      .sort()
      .map((name) => path.join(dir, name))
      .filter((sub) => existsSync(path.join(sub, MANIFEST_FILE)));
  });
}

async function packFolder(dir: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  const stream = createTar({ gzip: true, cwd: dir, portable: true }, projectFilePaths(dir));
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

program.parseAsync(process.argv).catch((error: unknown) => {
  if (error instanceof ApiError && error.body.details?.length) {
    console.error(visible(`error: ${error.message}`));
    for (const d of error.body.details) console.error(`  ${problemLine(d)}`);
  } else if (error instanceof Error && !process.env.ISOHOOK_DEBUG) {
    console.error(visible(`error: ${error.message}`));
  } else {
    console.error(error);
  }
  process.exit(1);
});
