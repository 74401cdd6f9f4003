// The hub's queues hold only where each waiting event is; its data is read back when it is
// delivered. A session that never takes its events cannot make the server hold them without end.
import pino from "pino";
import { describe, expect, it } from "vitest";
import type { WireEventData } from "../../sandbox";
import type { SubscriptionsStore } from "../../src/store/subscriptions-store";
import { checkFilter } from "../../src/subscriptions/filter";
import type { FilterRunner } from "../../src/subscriptions/filter-runner";
import { checkSubscription } from "../../src/subscriptions/check-subscription";
import {
  MAX_WAITING_EVENTS_PER_SESSION,
  SubscriptionHub,
} from "../../src/subscriptions/subscription-hub";

function eventData(n: number): WireEventData {
  return {
    method: "POST",
    raw_url: `/e/${n}`,
    url: { path: `/e/${n}`, query: {}, path_suffix: "" },
    headers: {},
    body: { bytes: new Uint8Array([n % 256]) },
  };
}

function setUp(evaluate: FilterRunner["evaluate"] = () => Promise.resolve([])) {
  const stored = new Map<string, WireEventData>();
  const loads: string[] = [];
  const notes: [string, string][] = [];
  const store = {
    insert: () => undefined,
    end: () => undefined,
    endForSession: () => undefined,
    queued: () => undefined,
    delivered: () => undefined,
  } as unknown as SubscriptionsStore;
  const filters = { evaluate, warm: () => undefined } as unknown as FilterRunner;
  const hub = new SubscriptionHub(
    store,
    filters,
    (id) => {
      loads.push(id);
      return stored.get(id) ?? null;
    },
    pino({ level: "silent" }),
  );
  hub.onNote = (sessionId, message) => notes.push([sessionId, message]);
  const publish = (n: number, keep = true) => {
    const data = eventData(n);
    if (keep) stored.set(`evt_${n}`, data);
    return hub.publish("p", "source", { id: `evt_${n}`, data });
  };
  return { hub, stored, loads, notes, publish };
}

describe("SubscriptionHub", () => {
  it("reads a waiting event's data back when it is delivered, in arrival order", async () => {
    const { hub, loads, publish } = setUp();
    hub.add({ id: "ses_1", project: "p" }, "sub_1", "source", null);
    await publish(1);
    await publish(2);
    expect(loads).toEqual([]);
    const first = await hub.next("ses_1", ["sub_1"], 0);
    expect(first).toMatchObject({ eventId: "evt_1", data: eventData(1) });
    expect(loads).toEqual(["evt_1"]);
    expect((await hub.next("ses_1", ["sub_1"], 0))?.eventId).toBe("evt_2");
    expect(await hub.next("ses_1", ["sub_1"], 0)).toBeNull();
  });

  it("hands an event to a waiting session as it arrives, without reading it back", async () => {
    const { hub, loads, publish } = setUp();
    hub.add({ id: "ses_1", project: "p" }, "sub_1", "source", null);
    const waiting = hub.next("ses_1", ["sub_1"], null);
    await publish(7);
    expect((await waiting)?.data).toEqual(eventData(7));
    expect(loads).toEqual([]);
  });

  it("skips a waiting event that is not stored", async () => {
    const { hub, publish } = setUp();
    hub.add({ id: "ses_1", project: "p" }, "sub_1", "source", null);
    await publish(1, false);
    await publish(2);
    expect((await hub.next("ses_1", ["sub_1"], 0))?.eventId).toBe("evt_2");
  });

  it("queues at most so many events for a session, says so once, and queues again once it takes some", async () => {
    const { hub, notes, publish } = setUp();
    hub.add({ id: "ses_1", project: "p" }, "sub_1", "source", null);
    hub.add({ id: "ses_2", project: "p" }, "sub_2", "source", null);
    for (let n = 0; n < MAX_WAITING_EVENTS_PER_SESSION + 5; n++) void publish(n);
    await publish(-1);
    expect(notes).toEqual([
      [
        "ses_1",
        `${MAX_WAITING_EVENTS_PER_SESSION} events are waiting for next_event already; events from evt_${MAX_WAITING_EVENTS_PER_SESSION} on are not queued for this session until it takes some`,
      ],
      [
        "ses_2",
        `${MAX_WAITING_EVENTS_PER_SESSION} events are waiting for next_event already; events from evt_${MAX_WAITING_EVENTS_PER_SESSION} on are not queued for this session until it takes some`,
      ],
    ]);
    expect((await hub.next("ses_1", ["sub_1"], 0))?.eventId).toBe("evt_0");
    await publish(100_000);
    // The oldest go first; the one that found room is last.
    let last: string | undefined;
    for (let i = 0; i < MAX_WAITING_EVENTS_PER_SESSION; i++)
      last = (await hub.next("ses_1", ["sub_1"], 0))?.eventId;
    expect(last).toBe("evt_100000");
    expect(await hub.next("ses_1", ["sub_1"], 0)).toBeNull();
    expect(notes).toHaveLength(2);
  });
});

describe("SubscriptionHub, unsubscribing", () => {
  it("frees the room a dropped subscription's waiting events took", async () => {
    const { hub, notes, publish } = setUp();
    hub.add({ id: "ses_1", project: "p" }, "sub_1", "source", null);
    for (let n = 0; n < MAX_WAITING_EVENTS_PER_SESSION; n++) void publish(n);
    await publish(-1);
    hub.unsubscribe("ses_1", "sub_1");
    hub.add({ id: "ses_1", project: "p" }, "sub_2", "source", null);
    await publish(100_000);
    expect((await hub.next("ses_1", ["sub_2"], 0))?.eventId).toBe("evt_100000");
    expect(notes).toHaveLength(1);
  });
});

describe("SubscriptionHub, large events", () => {
  it("reads a large event back even when a session is waiting for it", async () => {
    const { hub, stored, loads } = setUp();
    hub.add({ id: "ses_1", project: "p" }, "sub_1", "source", null);
    const large: WireEventData = { ...eventData(1), body: { bytes: new Uint8Array(100_000) } };
    stored.set("evt_large", large);
    const waiting = hub.next("ses_1", ["sub_1"], null);
    await hub.publish("p", "source", { id: "evt_large", data: large });
    expect((await waiting)?.data).toBe(large);
    expect(loads).toEqual(["evt_large"]);
  });
});

describe("SubscriptionHub, filters", () => {
  /** A filter as the sandbox process accepts it, with its equality terms. */
  const filter = (text: string) => ({ text, recorded: text, terms: checkFilter(text) });

  function withWorker() {
    const asked: string[][] = [];
    const setup = setUp((_event, filters) => {
      asked.push(filters);
      // The worker's verdict for the one filter here that needs CEL.
      return Promise.resolve(filters.map(() => ({ pass: true, error: null })));
    });
    return { ...setup, asked };
  }

  it("gets a filter's equality terms from checkSubscription, which the sandbox process runs", () => {
    const accepted = checkSubscription("p", ["source"], "source", 'data.url.query.id == "7"');
    expect(accepted.id).toMatch(/^sub_/);
    expect(accepted.terms).toEqual([
      { path: { root: "data", keys: ["url", "query", "id"] }, value: "7" },
    ]);
    expect(
      checkSubscription("p", ["source"], "source", "data.raw_url.size() > 0").terms,
    ).toBeNull();
    expect(checkSubscription("p", ["source"], "source", null).terms).toBeNull();
  });

  it("decides filters of equalities itself, and asks the filter worker only for the others", async () => {
    const { hub, asked, publish } = withWorker();
    hub.add({ id: "ses_1", project: "p" }, "sub_1", "source", filter('data.url.path == "/e/1"'));
    hub.add({ id: "ses_2", project: "p" }, "sub_2", "source", filter("data.raw_url.size() > 0"));
    hub.add({ id: "ses_3", project: "p" }, "sub_3", "source", null);
    await publish(1);
    await publish(2);
    expect(asked.flat()).toEqual(["data.raw_url.size() > 0", "data.raw_url.size() > 0"]);
    const taken = async (session: string, subscription: string) => {
      const ids: string[] = [];
      for (let e; (e = await hub.next(session, [subscription], 0)) !== null;) ids.push(e.eventId);
      return ids;
    };
    expect(await taken("ses_1", "sub_1")).toEqual(["evt_1"]);
    expect(await taken("ses_2", "sub_2")).toEqual(["evt_1", "evt_2"]);
    expect(await taken("ses_3", "sub_3")).toEqual(["evt_1", "evt_2"]);
  });

  it("gives an event to a session's subscriptions in the order it made them", async () => {
    const { hub, publish } = withWorker();
    hub.add({ id: "ses_1", project: "p" }, "sub_a", "source", filter("data.raw_url.size() > 0"));
    hub.add({ id: "ses_1", project: "p" }, "sub_b", "source", filter('data.url.path == "/e/1"'));
    hub.add({ id: "ses_1", project: "p" }, "sub_c", "source", null);
    const waiting = hub.next("ses_1", ["sub_a", "sub_b", "sub_c"], null);
    await publish(1);
    expect(await waiting).toMatchObject({ eventId: "evt_1" });
    // The first subscription took it; the other two queued it.
    expect(await hub.next("ses_1", ["sub_a"], 0)).toBeNull();
    expect((await hub.next("ses_1", ["sub_b"], 0))?.eventId).toBe("evt_1");
    expect((await hub.next("ses_1", ["sub_c"], 0))?.eventId).toBe("evt_1");
  });

  it("decides the equalities of subscriptions restored after a restart without the worker", async () => {
    const { hub, asked, publish } = withWorker();
    hub.restore(
      [
        {
          sessionId: "ses_1",
          project: "p",
          id: "sub_1",
          source: "source",
          filter: 'data.url.path == "/e/2"',
          toldFilterFailed: false,
        },
      ],
      [],
    );
    await publish(1);
    await publish(2);
    expect(asked.flat()).toEqual([]);
    expect((await hub.next("ses_1", ["sub_1"], 0))?.eventId).toBe("evt_2");
    expect(await hub.next("ses_1", ["sub_1"], 0)).toBeNull();
  });
});
