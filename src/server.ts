/**
 * Starting and stopping an isohook server: lock the data folder, open the database, end
 * sessions a crash left running, bring the active deployments back to life, listen, and deploy
 * the given folders.
 */
import { createServer, type RequestListener, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Logger } from "pino";
import { createApp } from "./app";
import type { Settings } from "./config";
import { Bundler } from "./deploy/bundler";
import { Deployer, type DeployResult } from "./deploy/deployer";
import { LiveDeployments, type PoolSettings } from "./deploy/live-deployments";
import { readProjectFolder } from "./deploy/project-folder";
import { loadOrCreateToken } from "./http/auth";
import { SessionManager } from "./sessions/session-manager";
import { resumeDurableSessions } from "./sessions/resume";
import { JournalStore } from "./store/journal-store";
import { openDatabase, type Db } from "./store/database";
import { lockDataFolder, type DataFolderLock } from "./store/data-folder-lock";
import { ProjectsStore } from "./store/projects-store";
import { Retention } from "./store/retention";
import { SessionsStore } from "./store/sessions-store";
import { SubscriptionsStore } from "./store/subscriptions-store";
import { FilterRunner } from "./subscriptions/filter-runner";
import { SubscriptionHub } from "./subscriptions/subscription-hub";
import { SandboxProcesses } from "./worker/remote-sandbox";
import { CryptoSlots } from "./bindings/crypto-queue";
import { Fetcher } from "./bindings/host-fetch";
import { WriteQueue } from "./store/write-queue";
import { FilterWarnings } from "./webhooks/filter-warnings";
import { BodyBudget, bodyCapsFor, type BodyCaps } from "./webhooks/body-budget";
import os from "node:os";

export interface RunningServer {
  /** Where it listens, e.g. `http://127.0.0.1:9980`. */
  url: string;
  /** Base of webhook URLs (`ISOHOOK_PUBLIC_URL`, or `url`). */
  publicUrl: string;
  token: string;
  /** True when the token was created by this start (show it once). */
  tokenCreated: boolean;
  dataDir: string;
  /** Results of deploying the folders passed as `deployDirs`, in order. */
  deployed: { dir: string; result?: DeployResult; error?: unknown }[];
  deployer: Deployer;
  /** Pids of the sandbox processes, as they are now (they are replaced when they die). */
  sandboxPids(): number[];
  /** The pid of the sandbox process running a project's active deployment. */
  sandboxPidOf(project: string): number | undefined;
  /** Projects moved to a sandbox process of their own after one died running their code. */
  quarantined(): string[];
  close(): Promise<void>;
}

export interface ServerOptions {
  settings: Settings;
  logger: Logger;
  /** Project folders to deploy once listening (unchanged ones are left as they are). */
  deployDirs?: string[];
  pool?: Partial<PoolSettings>;
  /** Memory webhook bodies in progress may hold; derived from the body limit when unset. */
  bodyCaps?: BodyCaps;
}

const REQUEST_TIMEOUT_MS = 60_000;
const HEADERS_TIMEOUT_MS = 20_000;

export async function startServer(options: ServerOptions): Promise<RunningServer> {
  // Before anything in the folder is read or changed: another server may be using it.
  const lock = lockDataFolder(options.settings.dataDir, options.logger);
  // What a start that fails half-way has to stop again, last started first.
  const undo: (() => void)[] = [() => lock.release()];
  try {
    const db = openDatabase(options.settings.dataDir);
    undo.push(() => db.close());
    return await startOnDatabase(options, db, lock, undo);
  } catch (error) {
    for (const step of undo.reverse()) step();
    throw error;
  }
}

async function startOnDatabase(
  options: ServerOptions,
  db: Db,
  lock: DataFolderLock,
  undo: (() => void)[],
): Promise<RunningServer> {
  const { settings, logger } = options;
  const { token, created: tokenCreated } = loadOrCreateToken(settings.dataDir, settings.token);
  // Listening comes next: the port may be chosen by the system, and webhook URLs need it; and
  // a port in use stops the start before any session or deployment is touched. Until the
  // deployments are back, requests get 503.
  let handle: RequestListener = (_req, res) => {
    res.writeHead(503, { "content-type": "application/json", "retry-after": "1" });
    res.end(JSON.stringify({ error: "the server is starting" }));
  };
  // A request (headers and body) must arrive within a minute: a caller sending slowly holds
  // its body's share of memory meanwhile (Node's default lets it take five).
  const http: Server = createServer(
    { requestTimeout: REQUEST_TIMEOUT_MS, headersTimeout: HEADERS_TIMEOUT_MS },
    (req, res) => handle(req, res),
  );
  await listen(http, settings.host, settings.port);
  undo.push(() => {
    http.close();
    http.closeAllConnections();
  });

  const queue = new WriteQueue(db, logger);
  undo.push(() => queue.flush());
  const projects = new ProjectsStore(db);
  const sessionsStore = new SessionsStore(queue);
  const journal = new JournalStore(queue);
  const interrupted = sessionsStore.failInterrupted(
    "the server stopped while the session was running",
    new Date().toISOString(),
  );
  if (interrupted > 0)
    logger.warn(
      { sessions: interrupted },
      "non-durable sessions left running by the last run were ended as errors",
    );

  const retention =
    settings.retentionMs === null
      ? null
      : new Retention({ db, keepMs: settings.retentionMs, logger });
  retention?.start();
  undo.push(() => void retention?.close());
  const address = http.address() as AddressInfo;
  const url = `http://${address.family === "IPv6" ? `[${address.address}]` : address.address}:${address.port}`;
  const publicUrl = settings.publicUrl ?? url;
  const webhookUrl = (slug: string) => `${publicUrl}/webhooks/${slug}`;

  const cores = os.availableParallelism();
  const processes = new SandboxProcesses({
    count: settings.sandboxProcesses,
    logger,
    logLevel: settings.logLevel,
  });
  undo.push(() => void processes.close("the server did not start"));
  const filters = new FilterRunner(logger);
  undo.push(() => filters.close());
  const live = new LiveDeployments({
    onCelFilter: () => filters.warm(),
    processes,
    limits: settings.limits,
    pool: {
      minIsolates: Math.min(2, cores),
      maxIsolates: Math.max(2, cores),
      maxSessionsPerIsolate: 500,
      ...options.pool,
    },
    webhookUrl,
  });
  await restoreDeployments(projects, live, logger);

  const subscriptionsStore = new SubscriptionsStore(queue);
  const subscriptions = new SubscriptionHub(
    subscriptionsStore,
    filters,
    (id) => sessionsStore.eventData(id),
    logger,
  );
  const fetcher = new Fetcher(settings.fetchAllowPrivate);
  const running = new SessionManager({
    store: sessionsStore,
    journal,
    subscriptions,
    fetch: { fetcher, allowPrivate: settings.fetchAllowPrivate },
    cryptoSlots: new CryptoSlots(),
    limits: settings.limits,
    logger,
  });
  subscriptions.onNote = (sessionId, message) => running.note(sessionId, message);
  // Before any webhook is served: resumed sessions' subscriptions must be back before new
  // events arrive for them.
  await resumeDurableSessions({
    sessions: sessionsStore,
    journal,
    subscriptionsStore,
    subscriptions,
    projects,
    live,
    running,
    logger,
  });
  const bundler = new Bundler();
  undo.push(() => bundler.close());
  const deployer = new Deployer({ projects, live, bundler, logger, webhookUrl });
  const app = createApp({
    api: {
      token,
      limits: settings.limits,
      deployer,
      projects,
      sessions: sessionsStore,
      running,
      live,
      webhookUrl,
    },
    webhooks: {
      live,
      sessions: running,
      subscriptions,
      filters,
      filterWarnings: new FilterWarnings(logger),
      bodies: new BodyBudget(options.bodyCaps ?? bodyCapsFor(settings.limits.maxBodyBytes)),
      store: sessionsStore,
      limits: settings.limits,
      logger,
    },
    logger,
  });
  handle = app;

  const deployed: RunningServer["deployed"] = [];
  for (const dir of options.deployDirs ?? []) {
    try {
      const files = readProjectFolder(dir, settings.limits.maxUploadBytes);
      deployed.push({ dir, result: await deployer.deploy(files, { onlyIfChanged: true }) });
    } catch (error) {
      deployed.push({ dir, error });
    }
  }

  let closing: Promise<void> | undefined;
  return {
    url,
    publicUrl,
    token,
    tokenCreated,
    dataDir: settings.dataDir,
    deployed,
    deployer,
    sandboxPids: () => processes.pids,
    sandboxPidOf: (project) => live.deployment(project)?.sandbox.pid,
    quarantined: () => processes.quarantined,
    close: () =>
      (closing ??= (async () => {
        // Webhooks still arriving get 503; those taken already are kept: their events reach
        // the subscriptions they pass before any session is let go of.
        running.refuseNew();
        const stopped = new Promise<void>((resolve) => http.close(() => resolve()));
        http.closeIdleConnections();
        await retention?.close();
        await subscriptions.delivered();
        // Requests still waiting for their trigger's filter get their verdict now (none
        // passes), and with it their 503, before the connections go.
        filters.close();
        // Sessions end first, so that sync callers still waiting get their 503 before the
        // connections go. Durable ones are only let go of: they resume at the next start.
        running.suspendDurable();
        await processes.close("the server shut down while the session was running");
        await new Promise((resolve) => setTimeout(resolve, 50));
        // What callers wait for (an async 202 waits for its commit) goes out before they do.
        queue.flush();
        await new Promise((resolve) => setImmediate(resolve));
        http.closeAllConnections();
        bundler.close();
        void fetcher.close();
        await stopped;
        // Let the sessions' last records reach the queue before the final commit.
        await new Promise((resolve) => setImmediate(resolve));
        queue.flush();
        db.close();
        lock.release();
      })()),
  };
}

async function restoreDeployments(
  projects: ProjectsStore,
  live: LiveDeployments,
  logger: Logger,
): Promise<void> {
  await Promise.all(
    projects.activeDeployments().map(async (row) => {
      try {
        const prepared = await live.prepare(
          { id: row.id, manifest: row.manifest, bundle: row.bundle, sourceMap: row.source_map },
          projects.slugs(row.project),
        );
        live.activate(prepared, projects.slugs(row.project));
      } catch (error) {
        logger.error(
          { err: error, project: row.project, deployment_id: row.id },
          "could not restore a deployment",
        );
      }
    }),
  );
}

function listen(server: Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
}
