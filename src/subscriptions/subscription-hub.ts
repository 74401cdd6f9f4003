/**
 * Subscriptions of running sessions to their project's webhooks, and `next_event`.
 *
 * From the moment of `subscribe`, every event of the source trigger that passes the filter is
 * queued for the subscription, in arrival order; `next_event` takes the earliest one queued
 * for any of the subscriptions it names, or waits for one. A waiting call costs nothing: it
 * is a promise here, and the session's isolate is free meanwhile. An event goes to each
 * subscription once. Everything queued and delivered is also written to SQLite.
 *
 * Filters of string equalities are decided here, through an index (source-subscriptions.ts);
 * other filters by the filter worker, so an event's delivery may wait for its verdicts;
 * deliveries still happen in arrival order, one event after the other.
 */
import type { Logger } from "pino";
import type { WireEventData } from "../../sandbox";
import type { SubscriptionsStore } from "../store/subscriptions-store";
import type { EqualityTerm } from "./equality-shortcut";
import { storedFilterTerms, toFilterEvent } from "./filter";
import type { FilterRunner } from "./filter-runner";
import { SubscriptionError } from "./check-subscription";
import { NextEventCalls } from "./next-event-calls";
import { SourceSubscriptions } from "./source-subscriptions";

export interface QueuedEvent {
  /** Arrival order across all of the server's events. */
  seq: number;
  eventId: string;
  trigger: string;
  data: WireEventData;
}

/**
 * An event waiting in a subscription's queue: only where to find it. Its data (the body may
 * be megabytes) is read back from SQLite when it is delivered, so what waits in memory is
 * small whatever callers send.
 */
type WaitingEvent = Omit<QueuedEvent, "data">;

/** Reads a stored event's data back, or `null` when it is not stored. */
export type EventLoader = (eventId: string) => WireEventData | null;

/** Says something in a session's log. */
export type SessionNote = (sessionId: string, message: string) => void;

/**
 * Events waiting for one session, in all its subscriptions. Past it, further events are not
 * queued for it (its log says so, once): a session that subscribes and never takes its events
 * cannot make the server hold them without end.
 */
export const MAX_WAITING_EVENTS_PER_SESSION = 10_000;

/** Bodies up to this size stay in memory on their way to a session waiting for them. */
const IN_MEMORY_BODY_BYTES = 64 * 1024;

/** A subscription's filter, as `checkSubscription` accepted it. */
export interface SubscriptionFilter {
  /** CEL source. */
  text: string;
  /** As stored in SQLite (secrets redacted). */
  recorded: string;
  /** Its equality terms, when that is all it is: then the hub decides it without CEL. */
  terms: readonly EqualityTerm[] | null;
}

interface Subscription {
  id: string;
  sessionId: string;
  key: string;
  /** When it subscribed, server-wide: an event goes to the subscriptions it passes in this order. */
  order: number;
  /** CEL source; evaluated here when `terms` decide it, else by the filter worker. */
  filter: string | null;
  terms: readonly EqualityTerm[] | null;
  queue: WaitingEvent[];
  toldFilterFailed: boolean;
}

export class SubscriptionHub {
  readonly #store: SubscriptionsStore;
  readonly #filters: FilterRunner;
  readonly #logger: Logger;
  /** Settles when the last published event has been delivered; the next one waits for it. */
  #delivered: Promise<void> = Promise.resolve();
  readonly #byId = new Map<string, Subscription>();
  /** `project \0 trigger` → subscriptions to it. */
  readonly #bySource = new Map<string, SourceSubscriptions<Subscription>>();
  readonly #bySession = new Map<string, Set<Subscription>>();
  readonly #calls = new NextEventCalls();
  /** Sessions told that they have too many events waiting. */
  readonly #toldFull = new Set<string>();
  readonly #loadEvent: EventLoader;
  #note: SessionNote = () => undefined;
  #seq = 0;
  #lastOrder = 0;

  constructor(
    store: SubscriptionsStore,
    filters: FilterRunner,
    loadEvent: EventLoader,
    logger: Logger,
  ) {
    this.#store = store;
    this.#filters = filters;
    this.#loadEvent = loadEvent;
    this.#logger = logger;
  }

  /** Where notes for a session's log go (the session manager, once it exists). */
  set onNote(note: SessionNote) {
    this.#note = note;
  }

  /** Resolves once every event published so far has been delivered (at a shutdown). */
  delivered(): Promise<void> {
    return this.#delivered;
  }

  /** Active subscriptions, for tests and metrics. */
  get size(): number {
    return this.#byId.size;
  }

  /**
   * Register a subscription that `checkSubscription` accepted (in the sandbox process, which
   * answered the session at once with `id`, and gave the filter's equality terms). Its filter
   * compiled there, so it is not compiled again here: parsing CEL is most of what a
   * subscription costs the server (and the filter worker, which does compile it, passes nothing
   * for a filter that does not).
   */
  add(
    session: { id: string; project: string },
    id: string,
    source: string,
    filter: SubscriptionFilter | null,
  ): void {
    this.#index({
      id,
      sessionId: session.id,
      key: sourceKey(session.project, source),
      order: ++this.#lastOrder,
      filter: filter?.text ?? null,
      terms: filter?.terms ?? null,
      queue: [],
      toldFilterFailed: false,
    });
    this.#store.insert({
      id,
      session_id: session.id,
      project: session.project,
      source,
      filter: filter?.recorded ?? null,
      created_at: new Date().toISOString(),
    });
  }

  /**
   * Bring back the subscriptions of durable sessions resumed after a restart, in memory only
   * (their rows are still open), with the events queued for them and not taken: those wait
   * again, in the order they arrived. Called before any new event is published.
   */
  restore(
    subscriptions: {
      sessionId: string;
      project: string;
      id: string;
      source: string;
      filter: string | null;
      /** Its log says already that its filter could not be evaluated. */
      toldFilterFailed: boolean;
    }[],
    waiting: { subscriptionId: string; eventId: string; trigger: string }[],
  ): void {
    for (const { sessionId, project, id, source, filter, toldFilterFailed } of subscriptions) {
      this.#index({
        id,
        sessionId,
        key: sourceKey(project, source),
        order: ++this.#lastOrder,
        filter,
        terms: filter === null ? null : storedFilterTerms(filter),
        queue: [],
        toldFilterFailed,
      });
    }
    for (const { subscriptionId, eventId, trigger } of waiting) {
      this.#byId.get(subscriptionId)?.queue.push({ seq: ++this.#seq, eventId, trigger });
    }
  }

  #index(subscription: Subscription): void {
    // Its events will need CEL: the filter worker starts now rather than at the first event.
    if (subscription.filter !== null && subscription.terms === null) this.#filters.warm();
    this.#byId.set(subscription.id, subscription);
    let ofSource = this.#bySource.get(subscription.key);
    if (ofSource === undefined)
      this.#bySource.set(subscription.key, (ofSource = new SourceSubscriptions()));
    ofSource.add(subscription);
    setOf(this.#bySession, subscription.sessionId).add(subscription);
  }

  unsubscribe(sessionId: string, id: string): void {
    const subscription = this.#byId.get(id);
    if (subscription === undefined || subscription.sessionId !== sessionId) return;
    this.#remove(subscription, new Date().toISOString());
    this.#calls.unsubscribed(sessionId, id);
  }

  /**
   * A webhook event arrived: queue it for, or hand it to, every subscription it passes (those
   * that exist now). Resolves once it has been delivered (at once when nothing subscribes to
   * its trigger), its rows queued for writing.
   */
  publish(
    project: string,
    trigger: string,
    event: { id: string; data: WireEventData },
  ): Promise<void> {
    const subscriptions = this.#bySource.get(sourceKey(project, trigger));
    if (subscriptions === undefined) return Promise.resolve();
    const waiting: WaitingEvent = { seq: ++this.#seq, eventId: event.id, trigger };
    // Until its filters are decided, an event waits behind those before it; a large one waits
    // as its id only (its data is read back if a waiting session takes it at once).
    const data = event.data.body.bytes.length <= IN_MEMORY_BODY_BYTES ? event.data : null;
    const filterEvent = toFilterEvent(event.id, event.data);
    const { passed, undecided } = subscriptions.match(filterEvent);
    const verdicts = this.#filters.evaluate(
      filterEvent,
      undecided.map((s) => s.filter!),
      `${project}/${trigger} subscriptions`,
    );
    this.#delivered = this.#delivered
      .then(async () => {
        const evaluated = await verdicts;
        undecided.forEach((subscription, i) => {
          const verdict = evaluated[i];
          if (verdict?.pass === true) passed.push(subscription);
          else if (verdict?.error != null)
            this.#filterFailed(subscription, event.id, verdict.error);
        });
        if (undecided.length > 0) passed.sort((a, b) => a.order - b.order);
        this.#deliver(
          waiting,
          data,
          passed.filter((s) => this.#byId.has(s.id)),
        );
      })
      // One event that could not be delivered must not stop the ones after it.
      .catch((error: unknown) =>
        this.#logger.error({ err: error, event_id: event.id }, "an event was not delivered"),
      );
    return this.#delivered;
  }

  #deliver(
    waiting: WaitingEvent,
    known: WireEventData | null,
    subscriptions: Subscription[],
  ): void {
    const now = new Date().toISOString();
    let data = known;
    for (const subscription of subscriptions) {
      if (!this.#calls.waitsOn(subscription.sessionId, subscription.id)) {
        this.#park(subscription, waiting, now);
        continue;
      }
      data ??= this.#loadEvent(waiting.eventId);
      if (data === null) {
        this.#logger.error({ event_id: waiting.eventId }, "an event is not in the database");
        return;
      }
      this.#store.queued(subscription.id, waiting.eventId, now, now);
      this.#calls.give(subscription.sessionId, subscription.id, { ...waiting, data });
    }
  }

  /** Tell the session, once per subscription, that its filter does not evaluate. */
  #filterFailed(subscription: Subscription, eventId: string, error: string): void {
    if (subscription.toldFilterFailed) return;
    subscription.toldFilterFailed = true;
    this.#note(
      subscription.sessionId,
      `${filterFailureNote(subscription.id)} on event ${eventId} (${error}); ` +
        "events it cannot be evaluated on are not queued (said once)",
    );
  }

  #park(subscription: Subscription, queued: WaitingEvent, now: string): void {
    const { sessionId } = subscription;
    if (this.#waitingFor(sessionId) >= MAX_WAITING_EVENTS_PER_SESSION) {
      if (!this.#toldFull.has(sessionId)) {
        this.#toldFull.add(sessionId);
        this.#note(
          sessionId,
          `${MAX_WAITING_EVENTS_PER_SESSION} events are waiting for next_event already; ` +
            `events from ${queued.eventId} on are not queued for this session until it takes some`,
        );
      }
      return;
    }
    this.#toldFull.delete(sessionId);
    this.#store.queued(subscription.id, queued.eventId, now, null);
    subscription.queue.push(queued);
  }

  /**
   * Events waiting in all of a session's subscriptions (a hundred at most), counted from their
   * queues, so that a subscription dropped with its queue frees its room at once.
   */
  #waitingFor(sessionId: string): number {
    let waiting = 0;
    for (const subscription of this.#bySession.get(sessionId) ?? []) {
      waiting += subscription.queue.length;
    }
    return waiting;
  }

  /**
   * The earliest event queued for any of `ids`, or the next to arrive within `timeoutMs`
   * (`null`: no timeout), or `null` when the time passes.
   */
  next(
    sessionId: string,
    ids: readonly string[],
    timeoutMs: number | null,
  ): Promise<QueuedEvent | null> {
    const subscriptions = ids.map((id) => {
      const subscription = this.#byId.get(id);
      if (subscription === undefined || subscription.sessionId !== sessionId) {
        throw new SubscriptionError(
          `next_event: ${JSON.stringify(id)} is not a subscription of this session`,
        );
      }
      return subscription;
    });

    let earliest = earliestOf(subscriptions);
    while (earliest !== undefined) {
      const waiting = earliest.queue.shift()!;
      const data = this.#loadEvent(waiting.eventId);
      if (data !== null) {
        this.#store.delivered(earliest.id, waiting.eventId, new Date().toISOString());
        return Promise.resolve({ ...waiting, data });
      }
      // Not stored (its write failed): the next one, if any, is the answer.
      this.#logger.error({ event_id: waiting.eventId }, "a queued event is not in the database");
      earliest = earliestOf(subscriptions);
    }
    if (timeoutMs === 0) return Promise.resolve(null);
    return this.#calls.wait(sessionId, ids, timeoutMs);
  }

  /**
   * The session is over: its subscriptions end and its waiting calls are dropped. `recordEnd`
   * false lets go of them in memory only: a durable session let go of at a shutdown keeps them
   * open in SQLite, to be restored when it resumes (and one that failed to resume had them
   * ended there already).
   */
  endSession(sessionId: string, recordEnd = true): void {
    this.#calls.endSession(sessionId);
    this.#toldFull.delete(sessionId);
    const subscriptions = this.#bySession.get(sessionId);
    if (subscriptions === undefined) return;
    const now = new Date().toISOString();
    for (const subscription of [...subscriptions]) this.#remove(subscription, now, false);
    if (recordEnd) this.#store.endForSession(sessionId, now);
  }

  #remove(subscription: Subscription, time: string, write = true): void {
    this.#byId.delete(subscription.id);
    const ofSource = this.#bySource.get(subscription.key);
    ofSource?.delete(subscription);
    if (ofSource?.size === 0) this.#bySource.delete(subscription.key);
    deleteFrom(this.#bySession, subscription.sessionId, subscription);
    if (write) this.#store.end(subscription.id, time);
  }
}

/** The subscription whose first waiting event arrived first, if any has one. */
function earliestOf(subscriptions: Subscription[]): Subscription | undefined {
  let earliest: Subscription | undefined;
  for (const subscription of subscriptions) {
    const head = subscription.queue[0];
    if (head !== undefined && (earliest === undefined || head.seq < earliest.queue[0]!.seq))
      earliest = subscription;
  }
  return earliest;
}

/** How the note that a subscription's filter could not be evaluated begins. */
export function filterFailureNote(subscriptionId: string): string {
  return `the filter of subscription ${subscriptionId} could not be evaluated`;
}

function sourceKey(project: string, trigger: string): string {
  return `${project}\0${trigger}`;
}

function setOf<K, V>(map: Map<K, Set<V>>, key: K): Set<V> {
  let set = map.get(key);
  if (set === undefined) map.set(key, (set = new Set()));
  return set;
}

function deleteFrom<K, V>(map: Map<K, Set<V>>, key: K, value: V): void {
  const set = map.get(key);
  if (set === undefined) return;
  set.delete(value);
  if (set.size === 0) map.delete(key);
}
