// The hub's queues hold only where each waiting event is; its data is read back when it is
// delivered. A session that never takes its events cannot make the server hold them without end.
import pino from "pino";
import { describe, expect, it } from "vitest";
import type { WireEventData } from "../../sandbox";
import type { SubscriptionsStore } from "../../src/store/subscriptions-store";
import type { FilterRunner } from "../../src/subscriptions/filter-runner";
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

function setUp() {
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
  const filters = { evaluate: () => Promise.resolve([]) } as unknown as FilterRunner;
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
