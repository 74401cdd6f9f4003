/**
 * The management API (`/api/*`, bearer token): deploy, and read projects, sessions, logs and
 * events. Secret var values never leave through it: session logs are redacted as they are
 * written, events (whose URL and headers a webhook's caller chose) as they are shown.
 */
import Router from "@koa/router";
import type { Limits } from "../config";
import type { Deployer } from "../deploy/deployer";
import { callText } from "../deploy/manifest";
import { readUpload } from "../deploy/upload";
import type { LiveDeployments } from "../deploy/live-deployments";
import { BadRequestError, ConflictError, NotFoundError } from "../errors";
import { requireToken } from "../http/auth";
import { readBody } from "../http/body";
import { DeploymentRedactors } from "../sessions/deployment-redactors";
import type { SessionManager } from "../sessions/session-manager";
import { SECRET_PLACEHOLDER, type Redactor } from "../sessions/redactor";
import type { ProjectsStore } from "../store/projects-store";
import type { SessionState, SessionsStore } from "../store/sessions-store";
import { strictUtf8 } from "../utf8";

const STATES: SessionState[] = ["created", "running", "completed", "error", "stopped"];
const DEFAULT_LIST_LIMIT = 50;
const MAX_LIST_LIMIT = 1000;

export interface ApiDeps {
  token: string;
  limits: Limits;
  deployer: Deployer;
  projects: ProjectsStore;
  sessions: SessionsStore;
  running: SessionManager;
  live: LiveDeployments;
  webhookUrl: (slug: string) => string;
}

export function apiRouter(deps: ApiDeps): Router {
  const router = new Router({ prefix: "/api" });
  const redactors = new DeploymentRedactors((id) => deps.projects.manifestOf(id));
  router.use(requireToken(deps.token));

  router.post("/deploy", async (ctx) => {
    const body = await readBody(ctx.req, {
      limitBytes: deps.limits.maxUploadBytes,
      what: "the upload",
      gzip: true,
    });
    const files = await readUpload(
      body,
      ctx.get("content-type") || undefined,
      deps.limits.maxUploadBytes,
    );
    ctx.status = 201;
    ctx.body = await deps.deployer.deploy(files);
  });

  router.get("/projects", (ctx) => {
    ctx.body = {
      projects: deps.projects.projects().map((p) => describeProject(deps, redactors, p.name)),
    };
  });

  router.get("/projects/:name", (ctx) => {
    const name = ctx.params.name!;
    if (deps.projects.project(name) === undefined)
      throw new NotFoundError(`no project named ${name}`);
    ctx.body = {
      ...describeProject(deps, redactors, name),
      deployments: deps.projects.deploymentsOf(name),
    };
  });

  router.get("/sessions", (ctx) => {
    const state = optional(ctx.query.state);
    if (state !== undefined && !STATES.includes(state as SessionState)) {
      throw new BadRequestError(`state must be one of ${STATES.join(", ")}`);
    }
    const sessions = deps.sessions.sessions({
      project: optional(ctx.query.project),
      state: state as SessionState | undefined,
      before: pageStart(ctx.query.before, (id) => deps.sessions.session(id) !== undefined),
      limit: listLimit(ctx.query.limit),
    });
    ctx.body = { sessions };
  });

  router.get("/sessions/:id", (ctx) => {
    ctx.body = sessionOr404(deps, ctx.params.id!);
  });

  router.get("/sessions/:id/log", (ctx) => {
    const id = ctx.params.id!;
    sessionOr404(deps, id);
    const entries = deps.sessions.log(id).map((row) => ({
      seq: row.seq,
      time: row.time,
      kind: row.kind,
      data: JSON.parse(row.data) as unknown,
    }));
    ctx.body = { session_id: id, log: entries };
  });

  router.post("/sessions/:id/stop", async (ctx) => {
    const id = ctx.params.id!;
    const session = sessionOr404(deps, id);
    const stopped = await deps.running.stop(id, "stopped through the API");
    if (!stopped) throw new ConflictError(`session ${id} is not running (it is ${session.state})`);
    ctx.body = sessionOr404(deps, id);
  });

  router.get("/events", (ctx) => {
    const events = deps.sessions
      .events({
        project: optional(ctx.query.project),
        before: pageStart(ctx.query.before, (id) => deps.sessions.hasEvent(id)),
        limit: listLimit(ctx.query.limit),
      })
      .map((e) => ({
        ...e,
        data: redactedEventData(redactors.of(e.deployment_id), JSON.parse(e.data) as EventData),
      }));
    ctx.body = { events };
  });

  router.get("/events/:id", (ctx) => {
    const event = deps.sessions.event(ctx.params.id!);
    if (event === undefined) throw new NotFoundError(`no event ${ctx.params.id!}`);
    const { body, ...row } = event;
    const redactor = redactors.of(row.deployment_id);
    const text = strictUtf8(body);
    ctx.body = {
      ...row,
      data: redactedEventData(redactor, JSON.parse(row.data) as EventData),
      body_bytes: body.length,
      // As text when it is UTF-8 text, else as base64; secrets in it as `<secret>` either way.
      ...(text === null
        ? { body_base64: redactor.bytes(body).toString("base64") }
        : { body: redactor.text(text) }),
    };
  });

  return router;
}

/** `before`, when given: the id the page starts after, which must exist (a typo is not an end). */
function pageStart(
  value: string | string[] | undefined,
  exists: (id: string) => boolean,
): string | undefined {
  const id = optional(value);
  if (id !== undefined && !exists(id)) throw new BadRequestError(`before: no ${id} to list after`);
  return id;
}

function describeProject(deps: ApiDeps, redactors: DeploymentRedactors, name: string) {
  const row = deps.projects.project(name)!;
  const activeId = row.active_deployment_id;
  const manifest = activeId === null ? undefined : deps.projects.manifestOf(activeId);
  const slugs = deps.projects.slugs(name);
  return {
    name,
    active_deployment_id: row.active_deployment_id,
    created_at: row.created_at,
    updated_at: row.updated_at,
    vars: (manifest?.project.vars ?? []).map((v) => ({
      name: v.name,
      value: v.secret ? SECRET_PLACEHOLDER : v.value,
      secret: v.secret,
    })),
    allow_net: manifest?.project.allow_net ?? [],
    triggers: (manifest?.project.triggers ?? []).map((t) => ({
      name: t.name,
      is_sync: t.is_sync,
      is_durable: t.is_durable,
      call: callText(t),
      timeout_ms: t.timeout_ms,
      event_type: t.event_type,
      // a filter may compare a field with a secret
      filter: t.filter === null ? null : redactors.of(activeId!).text(t.filter),
      webhook_url: deps.webhookUrl(slugs.get(t.name)!),
    })),
  };
}

function sessionOr404(deps: ApiDeps, id: string) {
  const session = deps.sessions.session(id);
  if (session === undefined) throw new NotFoundError(`no session ${id}`);
  return session;
}

function optional(value: string | string[] | undefined): string | undefined {
  const text = Array.isArray(value) ? value[0] : value;
  return text === undefined || text === "" ? undefined : text;
}

function listLimit(value: string | string[] | undefined): number {
  const text = optional(value);
  if (text === undefined) return DEFAULT_LIST_LIMIT;
  const limit = Number(text);
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIST_LIMIT) {
    throw new BadRequestError(`limit must be a whole number from 1 to ${MAX_LIST_LIMIT}`);
  }
  return limit;
}

type EventData = { raw_url?: unknown } & Record<string, unknown>;

/**
 * An event's data with secret values replaced. The URL as sent may spell a secret with any
 * percent-encoding (`%53ecret`): when its decoded form holds one, that form, redacted, is shown.
 */
function redactedEventData(redactor: Redactor, data: EventData): unknown {
  const redacted = redactor.value(data) as EventData;
  if (typeof data.raw_url === "string") {
    const decoded = percentDecoded(data.raw_url);
    const clean = redactor.text(decoded);
    if (clean !== decoded) redacted.raw_url = clean;
  }
  return redacted;
}

/** Every `%XX` decoded as the byte it stands for (UTF-8), whatever the others are. */
function percentDecoded(text: string): string {
  return Buffer.from(
    text.replace(/%([0-9a-f]{2})/gi, (_, hex: string) => String.fromCharCode(parseInt(hex, 16))),
    "latin1",
  ).toString("utf8");
}
