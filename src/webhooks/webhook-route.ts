/**
 * `ANY /webhooks/<slug>[/<path_suffix...>]`: the hot path.
 *
 * Refusals come first and store nothing (404 unknown slug, 415 encoding, 413 size, 429 too
 * many sessions). Then the event is stored and handed to the sessions subscribed to the
 * trigger. A trigger without `call`, or whose `event_type` or `filter` the request does not
 * pass, answers 202. Otherwise a session starts: async triggers answer 202 once the event and
 * session rows are committed, sync triggers answer with what the session decides. A 202 also
 * waits until the event is queued for (or handed to) the subscriptions it passes, and that is
 * committed too: an event acknowledged is not lost to a durable session by a crash.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Logger } from "pino";
import type { Limits } from "../config";
import type { LiveDeployments, LiveTrigger } from "../deploy/live-deployments";
import {
  BodiesBusyError,
  IsohookError,
  NotFoundError,
  StoppingError,
  TooManySessionsError,
} from "../errors";
import { ClientGoneError, readBody } from "../http/body";
import { newId } from "../ids";
import type { HttpAnswer } from "../sessions/answer";
import type { SessionManager } from "../sessions/session-manager";
import type { SessionsStore } from "../store/sessions-store";
import { toFilterEvent } from "../subscriptions/filter";
import { decideEqualities } from "../subscriptions/equality-shortcut";
import type { FilterRunner } from "../subscriptions/filter-runner";
import type { SubscriptionHub } from "../subscriptions/subscription-hub";
import type { BodyBudget } from "./body-budget";
import { toEventData } from "./event-data";
import type { FilterWarnings } from "./filter-warnings";

const PREFIX = "/webhooks/";
const RETRY_AFTER_SECONDS = 1;

export interface WebhookDeps {
  live: LiveDeployments;
  sessions: SessionManager;
  subscriptions: SubscriptionHub;
  filters: FilterRunner;
  filterWarnings: FilterWarnings;
  bodies: BodyBudget;
  store: SessionsStore;
  limits: Limits;
  logger: Logger;
}

/**
 * The handler of webhook requests, for the server's request listener: it takes a request (and
 * answers it) when its path is under `/webhooks/`, and returns false otherwise. Webhooks do not
 * go through Koa: they write their answers themselves, byte for byte, and are the hot path.
 */
export function webhookHandler(
  deps: WebhookDeps,
): (req: IncomingMessage, res: ServerResponse) => boolean {
  return (req, res) => {
    // A request target in absolute form (`POST http://host/webhooks/...`) is read as its path.
    const target = req.url ?? "";
    if (/^https?:\/\//i.test(target)) {
      const url = URL.canParse(target) ? new URL(target) : null;
      req.url = url === null ? "/" : url.pathname + url.search;
    }
    const rawPath = (req.url ?? "").split("?")[0]!;
    if (!rawPath.startsWith(PREFIX)) return false;
    handle(req, res, rawPath.slice(PREFIX.length), deps).catch((error: unknown) => {
      if (error instanceof ClientGoneError) return void res.destroy();
      const known = error instanceof IsohookError;
      if (!known) deps.logger.error({ err: error }, "webhook request failed");
      const status = known ? error.status : 500;
      const headers: [string, string][] = [];
      if (
        error instanceof TooManySessionsError ||
        error instanceof BodiesBusyError ||
        error instanceof StoppingError
      )
        headers.push(["retry-after", String(error.retryAfterSeconds)]);
      const message = known && error.expose ? error.message : "internal error";
      send(res, {
        status,
        headers: [["content-type", "application/json"], ...headers],
        body: Buffer.from(JSON.stringify({ error: message })),
        dropped: [],
      });
    });
    return true;
  };
}

async function handle(
  req: IncomingMessage,
  res: ServerResponse,
  rest: string,
  deps: WebhookDeps,
): Promise<void> {
  const slash = rest.indexOf("/");
  const slug = slash === -1 ? rest : rest.slice(0, slash);
  const pathSuffix = slash === -1 ? "" : rest.slice(slash + 1);
  const live = deps.live.trigger(slug);
  if (live === undefined) throw new NotFoundError("no webhook at this address");

  // The body's memory is held as it arrives, so that a caller sending a large body slowly
  // (or many callers at once) is refused when the share is gone, not once it is all here.
  const hold = deps.bodies.open(live.deployment.project);
  let heldBySession = false;
  try {
    const body = await readBody(req, {
      limitBytes: deps.limits.maxBodyBytes,
      what: "the request body",
      gzip: true,
      hold: (bytes) => hold.add(bytes),
    });
    heldBySession = await accept(req, res, live, body, pathSuffix, deps, () => hold.release());
  } finally {
    if (!heldBySession) hold.release();
  }
}

/**
 * Store the event, hand it to subscribers, and start its session if it starts one; true when
 * a session started, which then holds the body (and lets go of it, `release`, as it ends).
 */
async function accept(
  req: IncomingMessage,
  res: ServerResponse,
  live: LiveTrigger,
  body: Buffer,
  pathSuffix: string,
  deps: WebhookDeps,
  release: () => void,
): Promise<boolean> {
  const { trigger, deployment } = live;
  const data = toEventData(req, body, pathSuffix);
  const method = (req.method ?? "GET").toLowerCase();
  const eventId = newId("evt");
  let startsSession =
    trigger.call !== null &&
    (trigger.event_type.length === 0 || trigger.event_type.includes(method));
  if (startsSession && trigger.filter !== null) {
    const filterEvent = toFilterEvent(eventId, data);
    // String equalities are decided here; other filters, or a field the request lacks (CEL
    // words the error), by the filter worker.
    const decided =
      live.filterTerms === null ? undefined : decideEqualities(live.filterTerms, filterEvent);
    if (decided !== undefined) startsSession = decided;
    else {
      const [verdict] = await deps.filters.evaluate(
        filterEvent,
        [trigger.filter],
        `${deployment.project}/${trigger.name}`,
      );
      startsSession = verdict?.pass === true;
      // Not while the server stops: it fails the filters still waiting, and says so once.
      if (verdict?.error != null && !deps.sessions.stopping) {
        const error = deployment.redactor.text(verdict.error);
        deps.filterWarnings.failed(deployment.project, trigger.name, eventId, error);
      }
    }
  }
  if (startsSession && deps.sessions.atCapacity(deployment.project)) {
    throw new TooManySessionsError(deps.limits.maxRunning, RETRY_AFTER_SECONDS);
  }
  // From here to the session's start nothing waits: a request taken before the server began
  // to stop is one it will keep (its event queued, its durable session let go of, not lost).
  if (deps.sessions.stopping) throw new StoppingError(RETRY_AFTER_SECONDS);

  const { body: _omitted, ...described } = data;
  deps.store.insertEvent({
    id: eventId,
    project: deployment.project,
    trigger: trigger.name,
    deployment_id: deployment.id,
    created_at: new Date().toISOString(),
    event_type: method,
    data: JSON.stringify(described),
    body,
  });
  const published = deps.subscriptions.publish(deployment.project, trigger.name, {
    id: eventId,
    data,
  });

  if (!startsSession) {
    await published;
    await deps.store.commit();
    send(res, accepted([["isohook-event-id", eventId]]));
    return false;
  }

  const run = deps.sessions.start(live, { id: eventId, data });
  void run.done.then(release);
  const ids: [string, string][] = [
    ["isohook-event-id", eventId],
    ["isohook-session-id", run.id],
  ];
  if (run.answer === null) {
    await published;
    await deps.store.commit();
    send(res, accepted(ids));
    return true;
  }

  const onClose = () => {
    if (!res.writableEnded) run.clientGone();
  };
  res.once("close", onClose);
  const answer = await run.answer;
  if (res.destroyed) return true;
  res.off("close", onClose);
  send(res, { ...answer, headers: [...answer.headers, ...ids] });
  return true;
}

function accepted(headers: [string, string][]): HttpAnswer {
  return { status: 202, headers, body: Buffer.alloc(0), dropped: [] };
}

/** Write the answer as it is: status, headers in order, body bytes. */
function send(res: ServerResponse, answer: HttpAnswer): void {
  if (res.headersSent || res.destroyed) return;
  const flat: string[] = [];
  for (const [name, value] of answer.headers) flat.push(name, value);
  if (answer.status !== 204 && answer.status !== 304)
    flat.push("content-length", String(answer.body.length));
  res.writeHead(answer.status, flat);
  res.end(answer.body);
}
