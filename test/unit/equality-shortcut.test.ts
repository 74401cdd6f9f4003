// Filters of string equalities are answered without CEL, and always as CEL answers them; the
// subscriptions that have such filters are indexed by their first term.
import { celEnv, isCelError, parse, plan } from "@bufbuild/cel";
import { describe, expect, it } from "vitest";
import { decideEqualities, equalityTerms } from "../../src/subscriptions/equality-shortcut";
import {
  compileFilter,
  filterInput,
  filterSubject,
  toFilterEvent,
  type FilterEvent,
  type FilterVerdict,
} from "../../src/subscriptions/filter";
import { SourceSubscriptions, type Subscriber } from "../../src/subscriptions/source-subscriptions";

const env = celEnv();

/** The verdict CEL alone gives: the oracle. */
function celVerdict(source: string, event: FilterEvent): FilterVerdict {
  const result = plan(env, parse(source))(filterInput(event) as never);
  if (isCelError(result)) return { pass: false, error: result.message };
  return { pass: result === true, error: null };
}

function event(options: {
  method?: string;
  query?: Record<string, string>;
  headers?: Record<string, string>;
  path?: string;
}): FilterEvent {
  const query = options.query ?? {};
  const search = new URLSearchParams(query).toString();
  const path = options.path ?? "/webhooks/abc";
  return toFilterEvent("evt_1", {
    method: options.method ?? "POST",
    raw_url: search === "" ? path : `${path}?${search}`,
    url: { path, query, path_suffix: "" },
    headers: options.headers ?? { "content-type": "application/json" },
    body: { bytes: new TextEncoder().encode('{"id": 42}') },
  });
}

const EVENTS: FilterEvent[] = [
  event({}),
  event({ query: { id: "42" } }),
  event({ query: { id: "43", kind: "a.b" } }),
  event({ query: { "a.b": "x" }, method: "GET" }),
  event({ headers: { "x-github-event": "push", "x-id": "42" } }),
  event({ headers: Object.fromEntries([["__proto__", "p"]]) }),
  event({ query: { id: "é😀" }, path: "/webhooks/abc/é" }),
  event({ query: { id: "" } }),
];

const SHORTCUT_FILTERS = [
  'data.url.query.id == "42"',
  '"42" == data.url.query.id',
  'data.url.query["id"] == "42"',
  'data.url.query["a.b"] == "x"',
  'data.headers["x-github-event"] == "push"',
  'data.headers["x-github-event"] == "push" && data.headers["x-id"] == "42"',
  'data.method == "POST" && data.url.query.id == "42"',
  'data.method == "GET" && data.url.query.id == "42"',
  'event_type == "post"',
  "data.headers.__proto__ == 'p'",
  'data.url.path == "/webhooks/abc/é"',
  'data.url.query.id == "é😀"',
  'data.url.query.id == ""',
  'data.raw_url == "/webhooks/abc?id=42"',
  'data.url.path_suffix == ""',
];

const CEL_ONLY_FILTERS = [
  'data["url.path"] == "/webhooks/abc"',
  'data["url.query"]["id"] == "42"',
  "data.url.query.id == 42",
  'data.body.json.id == "42"',
  'data.url.query.id != "42"',
  'data.url.query.id == "42" || data.method == "GET"',
  'has(data.url.query.id) && data.url.query.id == "42"',
  'data.url == "x"',
  'data.headers == "x"',
  'data.url.query.id.startsWith("4")',
  "data.url.query.id == data.method",
  'event_type.size() == 4 && data.method == "POST"',
];

describe("equality shortcut", () => {
  it("is taken only for string equalities on the request's head, joined with &&", () => {
    for (const source of SHORTCUT_FILTERS)
      expect(equalityTerms(parse(source).expr), source).not.toBeNull();
    for (const source of CEL_ONLY_FILTERS)
      expect(equalityTerms(parse(source).expr), source).toBeNull();
  });

  it("gives CEL's verdict, error included, on every event", () => {
    for (const source of [...SHORTCUT_FILTERS, ...CEL_ONLY_FILTERS]) {
      const filter = compileFilter(source);
      for (const e of EVENTS) {
        expect(filter(filterSubject(e)), `${source} on ${JSON.stringify(e.head)}`).toEqual(
          celVerdict(source, e),
        );
      }
    }
  });

  it("decides without converting the event when every field it reads is there", () => {
    const e = event({ query: { id: "42" }, headers: { "x-id": "7" } });
    const unconverted = {
      event: e,
      cel: () => {
        throw new Error("converted");
      },
    };
    expect(compileFilter('data.url.query.id == "42"')(unconverted)).toEqual({
      pass: true,
      error: null,
    });
    expect(compileFilter('data.url.query.id == "41"')(unconverted).pass).toBe(false);
    // One term false decides, even with the other's field missing (CEL's && says false too).
    expect(
      compileFilter('data.headers["x-id"] == "8" && data.url.query.missing == "1"')(unconverted)
        .pass,
    ).toBe(false);
  });
});

describe("subscriptions indexed by their first equality", () => {
  const FILTERS: (string | null)[] = [null, ...SHORTCUT_FILTERS, ...CEL_ONLY_FILTERS];

  function indexed(filters: (string | null)[]) {
    const index = new SourceSubscriptions<Subscriber & { filter: string | null }>();
    const all = filters.map((filter, order) => ({
      order,
      filter,
      terms: filter === null ? null : equalityTerms(parse(filter).expr),
    }));
    for (const subscription of all) index.add(subscription);
    return { index, all };
  }

  it("passes and refuses each event as CEL does, leaving to CEL only what it must decide", () => {
    const { index, all } = indexed(FILTERS);
    for (const e of EVENTS) {
      const { passed, undecided } = index.match(e);
      const where = JSON.stringify(e.head);
      for (const subscription of passed) {
        if (subscription.filter !== null)
          expect(
            celVerdict(subscription.filter, e).pass,
            `${subscription.filter} on ${where}`,
          ).toBe(true);
      }
      for (const subscription of undecided) expect(subscription.filter).not.toBeNull();
      // Neither passed nor left to CEL: refused, and CEL refuses it without an error.
      for (const subscription of all.filter((s) => !passed.includes(s) && !undecided.includes(s)))
        expect(celVerdict(subscription.filter!, e), `${subscription.filter} on ${where}`).toEqual({
          pass: false,
          error: null,
        });
      // Decided here whenever the equalities decide it.
      for (const subscription of undecided.filter((s) => s.terms !== null))
        expect(decideEqualities(subscription.terms!, e)).toBeUndefined();
    }
  });

  it("gives them in the order they subscribed, and forgets the deleted", () => {
    const filters = [
      'data.url.query.id == "42"',
      null,
      'data.method == "POST"',
      '"42" == data.url.query.id && data.method == "POST"',
      'data.url.query.id == "43"',
      'data.url.query.id == "42"',
    ];
    const { index, all } = indexed(filters);
    const e = EVENTS[1]!; // POST, ?id=42
    expect(index.match(e).passed.map((s) => s.order)).toEqual([0, 1, 2, 3, 5]);
    index.delete(all[0]!);
    index.delete(all[1]!);
    index.delete(all[0]!);
    expect(index.size).toBe(4);
    expect(index.match(e).passed.map((s) => s.order)).toEqual([2, 3, 5]);
    index.add(all[0]!);
    expect(index.match(e).passed.map((s) => s.order)).toEqual([0, 2, 3, 5]);
    for (const subscription of all) index.delete(subscription);
    expect(index.size).toBe(0);
    expect(index.match(e)).toEqual({ passed: [], undecided: [] });
  });

  it("checks only the subscriptions waiting for the value the event holds", () => {
    const filters = Array.from({ length: 1000 }, (_, i) => `data.url.query.id == "${i}"`);
    const { index, all } = indexed(filters);
    let checked = 0;
    for (const subscription of all) {
      const terms = subscription.terms!;
      subscription.terms = new Proxy(terms, {
        get: (target, key, receiver) => {
          if (key === Symbol.iterator) checked++;
          return Reflect.get(target, key, receiver);
        },
      });
    }
    const { passed } = index.match(event({ query: { id: "42" } }));
    expect(passed.map((s) => s.order)).toEqual([42]);
    expect(checked).toBe(1);
  });
});
