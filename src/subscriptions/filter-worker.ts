/**
 * The filter worker: a thread that evaluates event filters for the server. A filter is user
 * code of a kind (a CEL expression over a request a stranger sent), so it runs where the
 * server can stop it: `FilterRunner` ends this thread when one evaluation takes too long or
 * outgrows its memory, and starts another.
 */
import { parentPort } from "node:worker_threads";
import {
  compileFilter,
  filterSubject,
  type EventFilter,
  type FilterEvent,
  type FilterSubject,
  type FilterVerdict,
} from "./filter";

export interface FilterRequest {
  id: number;
  event: FilterEvent;
  filters: string[];
}

/** A verdict per filter of request `id`, or `ready` once, when the worker has loaded. */
export type FilterReply = { id: number; verdicts: FilterVerdict[] } | { ready: true };

/** Compiled filters by source; the oldest are dropped past this many. */
const MAX_COMPILED = 2000;
const compiled = new Map<string, EventFilter>();
/** The last event: a trigger filter and the subscriptions' share its conversion. */
let last: FilterSubject | null = null;

function compiledFilter(source: string): EventFilter {
  let filter = compiled.get(source);
  if (filter === undefined) {
    try {
      filter = compileFilter(source);
    } catch {
      // Filters were checked when deployed or subscribed; one that does not compile passes nothing.
      filter = () => ({ pass: false, error: "the filter does not compile" });
    }
    if (compiled.size >= MAX_COMPILED) compiled.delete(compiled.keys().next().value!);
    compiled.set(source, filter);
  }
  return filter;
}

parentPort!.on("message", ({ id, event, filters }: FilterRequest) => {
  if (last?.event.id !== event.id) last = filterSubject(event);
  const subject = last;
  const verdicts = filters.map((source) => compiledFilter(source)(subject));
  parentPort!.postMessage({ id, verdicts } satisfies FilterReply);
});
parentPort!.postMessage({ ready: true } satisfies FilterReply);
