// crypto.subtle work (src/bindings/crypto-queue.ts): one operation of a session at a time, a
// few for the whole server, each timed and charged, none left to run once the session ends.
import { describe, expect, it } from "vitest";
import { CryptoQueue, CryptoSlots } from "../../src/bindings/crypto-queue";
import { HostWorkCancelledError } from "../../src/bindings/host-work";

/** Work that finishes when the test says so, and notes when it started. */
function controlled() {
  const started: number[] = [];
  const finishers: (() => void)[] = [];
  const work = (n: number) => () => {
    started.push(n);
    return new Promise<number>((resolve) => finishers.push(() => resolve(n)));
  };
  const finishNext = async () => {
    finishers.shift()!();
    // Let the queue move on.
    for (let i = 0; i < 5; i++) await Promise.resolve();
  };
  return { started, work, finishNext };
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

describe("CryptoQueue", () => {
  it("runs a session's operations one at a time, in order", async () => {
    const { started, work, finishNext } = controlled();
    const queue = new CryptoQueue(new CryptoSlots(4), 1000, new AbortController().signal);
    const results = [queue.run(work(1)), queue.run(work(2)), queue.run(work(3))];
    await settle();
    expect(started).toEqual([1]);
    await finishNext();
    await settle();
    expect(started).toEqual([1, 2]);
    await finishNext();
    await settle();
    await finishNext();
    expect(await Promise.all(results)).toEqual([1, 2, 3]);
  });

  it("drops the operations still queued when the session ends", async () => {
    const { started, work, finishNext } = controlled();
    const ended = new AbortController();
    const queue = new CryptoQueue(new CryptoSlots(4), 1000, ended.signal);
    const running = queue.run(work(1));
    const queued = [queue.run(work(2)), queue.run(work(3))];
    await settle();
    ended.abort(new HostWorkCancelledError("the session ended"));
    await finishNext();
    expect(await running).toBe(1);
    for (const promise of queued) await expect(promise).rejects.toThrow("the session ended");
    expect(started).toEqual([1]);
  });

  it("times each operation, and runs nothing once the budget is spent", async () => {
    const queue = new CryptoQueue(new CryptoSlots(4), 30, new AbortController().signal);
    const busy = (ms: number) => async () => {
      const until = performance.now() + ms;
      while (performance.now() < until);
      return ms;
    };
    await queue.run(busy(20));
    const first = queue.takeSpentMs();
    expect(first).toBeGreaterThanOrEqual(20);
    expect(queue.takeSpentMs()).toBe(0);
    await queue.run(busy(20));
    expect(queue.takeSpentMs()).toBeGreaterThanOrEqual(20);
    await expect(queue.run(busy(20))).rejects.toThrow(/used up its CPU time/);
    expect(queue.takeSpentMs()).toBe(0);
  });

  it("charges an operation that fails for the time it took", async () => {
    const queue = new CryptoQueue(new CryptoSlots(4), 1000, new AbortController().signal);
    await expect(
      queue.run(async () => {
        const until = performance.now() + 10;
        while (performance.now() < until);
        throw new TypeError("bad key");
      }),
    ).rejects.toThrow("bad key");
    expect(queue.takeSpentMs()).toBeGreaterThanOrEqual(10);
  });
});

describe("CryptoSlots", () => {
  it("runs at most its number of operations at once, across sessions", async () => {
    const { started, work, finishNext } = controlled();
    const slots = new CryptoSlots(2);
    const queues = [1, 2, 3].map(() => new CryptoQueue(slots, 1000, new AbortController().signal));
    const results = queues.map((queue, i) => queue.run(work(i + 1)));
    await settle();
    expect(started).toEqual([1, 2]);
    await finishNext();
    await settle();
    expect(started).toEqual([1, 2, 3]);
    await finishNext();
    await finishNext();
    expect(await Promise.all(results)).toEqual([1, 2, 3]);
  });

  it("gives up a wait for a slot when the session ends", async () => {
    const { started, work, finishNext } = controlled();
    const slots = new CryptoSlots(1);
    const first = new CryptoQueue(slots, 1000, new AbortController().signal).run(work(1));
    const ended = new AbortController();
    const waiting = new CryptoQueue(slots, 1000, ended.signal).run(work(2));
    await settle();
    ended.abort(new HostWorkCancelledError("the session ended"));
    await expect(waiting).rejects.toThrow("the session ended");
    await finishNext();
    expect(await first).toBe(1);
    const next = new CryptoQueue(slots, 1000, new AbortController().signal).run(work(3));
    await settle();
    await finishNext();
    expect(await next).toBe(3);
    expect(started).toEqual([1, 3]);
  });
});
