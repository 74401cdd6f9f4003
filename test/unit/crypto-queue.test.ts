// crypto.subtle work (src/bindings/crypto-queue.ts): one operation of a session at a time, a
// few for the whole server, granted in turns fair between projects and between a project's
// sessions, each timed and charged, none left to run once the session ends.
import { describe, expect, it } from "vitest";
import { CryptoQueue, CryptoSlots } from "../../src/bindings/crypto-queue";
import { HostWorkCancelledError, type WorkOwner } from "../../src/bindings/host-work";

/** Work that finishes when the test says so, and notes when it started and how much ran at once. */
function controlled<T extends string | number = number>() {
  const started: T[] = [];
  const finishers: { label: T; finish: () => void }[] = [];
  let running = 0;
  let mostRunning = 0;
  const work = (label: T) => () => {
    started.push(label);
    running += 1;
    mostRunning = Math.max(mostRunning, running);
    return new Promise<T>((resolve) =>
      finishers.push({
        label,
        finish: () => {
          running -= 1;
          resolve(label);
        },
      }),
    );
  };
  /** Finish the running operation at `index` in start order (the earliest by default). */
  const finishNext = async (index = 0) => {
    finishers.splice(index, 1)[0]!.finish();
    // Let the queue move on.
    for (let i = 0; i < 5; i++) await Promise.resolve();
  };
  const finish = (label: T) => finishNext(finishers.findIndex((f) => f.label === label));
  const unfinished = () => finishers.length;
  return { started, work, finishNext, finish, unfinished, mostRunning: () => mostRunning };
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

function owner(project: string, sessionId: string): WorkOwner {
  return { project, sessionId };
}

/** A session's queue, of project `project`, with a budget that the tests do not reach. */
function queueOf(
  slots: CryptoSlots,
  project = "p",
  sessionId = "s",
  signal = new AbortController().signal,
) {
  return new CryptoQueue(slots, owner(project, sessionId), 1000, signal);
}

const ended = () => new HostWorkCancelledError("the session ended");

describe("CryptoQueue", () => {
  it("runs a session's operations one at a time, in order", async () => {
    const { started, work, finishNext } = controlled();
    const queue = queueOf(new CryptoSlots(4));
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
    const session = new AbortController();
    const queue = queueOf(new CryptoSlots(4), "p", "s", session.signal);
    const running = queue.run(work(1));
    const queued = [queue.run(work(2)), queue.run(work(3))];
    await settle();
    session.abort(ended());
    await finishNext();
    expect(await running).toBe(1);
    for (const promise of queued) await expect(promise).rejects.toThrow("the session ended");
    expect(started).toEqual([1]);
  });

  it("times each operation, and runs nothing once the budget is spent", async () => {
    const queue = new CryptoQueue(
      new CryptoSlots(4),
      owner("p", "s"),
      30,
      new AbortController().signal,
    );
    const busy = (ms: number) => async () => {
      const until = performance.now() + ms;
      while (performance.now() < until);
      return ms;
    };
    await queue.run(busy(20));
    const first = queue.takeSpentMs();
    expect(first).toBeGreaterThanOrEqual(20);
    expect(queue.takeSpentMs()).toBe(0);
    // A second runs only while the first left some budget (a loaded machine may not).
    const second = queue.run(busy(20));
    if (first < 30) {
      await second;
      expect(queue.takeSpentMs()).toBeGreaterThanOrEqual(20);
    } else {
      await expect(second).rejects.toThrow(/used up its CPU time/);
    }
    await expect(queue.run(busy(20))).rejects.toThrow(/used up its CPU time/);
    expect(queue.takeSpentMs()).toBe(0);
  });

  it("charges an operation that fails for the time it took", async () => {
    const queue = queueOf(new CryptoSlots(4));
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
    const queues = [1, 2, 3].map((i) => queueOf(slots, "p", `s${i}`));
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
    const first = queueOf(slots, "p", "s1").run(work(1));
    const session = new AbortController();
    const waiting = queueOf(slots, "p", "s2", session.signal).run(work(2));
    await settle();
    session.abort(ended());
    await expect(waiting).rejects.toThrow("the session ended");
    await finishNext();
    expect(await first).toBe(1);
    const next = queueOf(slots, "p", "s3").run(work(3));
    await settle();
    await finishNext();
    expect(await next).toBe(3);
    expect(started).toEqual([1, 3]);
  });

  it("gives a freed slot to a project with nothing running before a flooding project's queue", async () => {
    const { started, work, finish, finishNext, unfinished } = controlled<string>();
    const slots = new CryptoSlots(2);
    const flood = Array.from({ length: 20 }, (_, i) =>
      queueOf(slots, "hostile", `h${i}`).run(work(`h${i}`)),
    );
    const bystander = queueOf(slots, "bystander", "b").run(work("b"));
    await settle();
    expect(started).toEqual(["h0", "h1"]);

    await finish("h0");
    await settle();
    expect(started).toEqual(["h0", "h1", "b"]);
    expect(await Promise.race([bystander, settle()])).toBeUndefined();
    await finish("b");
    expect(await bystander).toBe("b");

    // The flood goes on, in the order it came.
    while (unfinished() > 0) {
      await finishNext();
      await settle();
    }
    expect(await Promise.all(flood)).toEqual(Array.from({ length: 20 }, (_, i) => `h${i}`));
    expect(started.filter((label) => label !== "b")).toEqual(
      Array.from({ length: 20 }, (_, i) => `h${i}`),
    );
  });

  it("takes turns between projects that all want more", async () => {
    const { started, work, finishNext } = controlled<string>();
    const slots = new CryptoSlots(1);
    const results = ["a", "b", "c"].flatMap((project) =>
      [0, 1, 2].map((i) => queueOf(slots, project, `${project}${i}`).run(work(`${project}${i}`))),
    );
    for (let i = 0; i < 9; i++) {
      await settle();
      await finishNext();
    }
    expect(started).toEqual(["a0", "b0", "c0", "a1", "b1", "c1", "a2", "b2", "c2"]);
    expect(await Promise.all(results)).toHaveLength(9);
  });

  it("takes turns between a project's sessions, and keeps each session's order", async () => {
    const { started, work, finishNext } = controlled<string>();
    const slots = new CryptoSlots(1);
    const signal = new AbortController().signal;
    const run = (sessionId: string, label: string) =>
      slots.run(owner("p", sessionId), work(label), signal, () => undefined);
    const busy = [0, 1, 2, 3].map((i) => run("busy", `busy${i}`));
    const other = [run("other", "other0"), run("other", "other1")];
    for (let i = 0; i < 6; i++) {
      await settle();
      await finishNext();
    }
    expect(started).toEqual(["busy0", "other0", "busy1", "other1", "busy2", "busy3"]);
    expect(await Promise.all([...busy, ...other])).toHaveLength(6);
  });

  it("skips a waiter whose session ended, even when it was next in line", async () => {
    const { started, work, finishNext } = controlled<string>();
    const slots = new CryptoSlots(1);
    const first = queueOf(slots, "a", "a0").run(work("a0"));
    const session = new AbortController();
    const gone = queueOf(slots, "b", "b0", session.signal).run(work("b0"));
    const next = queueOf(slots, "c", "c0").run(work("c0"));
    await settle();
    session.abort(ended());
    await expect(gone).rejects.toThrow("the session ended");

    await finishNext();
    await settle();
    expect(started).toEqual(["a0", "c0"]);
    await finishNext();
    expect(await Promise.all([first, next])).toEqual(["a0", "c0"]);
  });

  it("never runs more than its slots, whatever the owners and ends, and gives them all back", async () => {
    const { started, work, finishNext, unfinished, mostRunning } = controlled<string>();
    const slots = new CryptoSlots(3);
    // A fixed pseudo-random sequence, so a failure can be replayed.
    let seed = 42;
    const random = (below: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % below;
    };
    const sessions = Array.from({ length: 20 }, (_, i) => ({
      ended: new AbortController(),
      queue: null as CryptoQueue | null,
      id: `s${i}`,
      project: `p${i % 5}`,
    }));
    const outcomes = sessions.flatMap((session) => {
      session.queue = queueOf(slots, session.project, session.id, session.ended.signal);
      return [0, 1, 2].map((op) =>
        session.queue!.run(work(`${session.id}.${op}`)).then(
          () => "done",
          (error: Error) => error.message,
        ),
      );
    });
    const endedAt = new Map<string, number>();
    await settle();
    while (unfinished() > 0) {
      if (random(4) === 0) {
        const session = sessions[random(sessions.length)]!;
        if (!session.ended.signal.aborted) {
          session.ended.abort(ended());
          endedAt.set(session.id, started.length);
        }
      }
      await finishNext(random(unfinished()));
      await settle();
    }

    expect(mostRunning()).toBe(3);
    expect(new Set(await Promise.all(outcomes))).toEqual(new Set(["done", "the session ended"]));
    expect(endedAt.size).toBeGreaterThan(0);
    // No operation of a session started after the session ended.
    for (const [id, at] of endedAt) {
      expect(started.slice(at).filter((label) => label.startsWith(`${id}.`))).toEqual([]);
    }
    // Every slot came back: three new operations start at once.
    const after = [1, 2, 3].map((i) => queueOf(slots, "late", `l${i}`).run(work(`late${i}`)));
    await settle();
    expect(started.slice(-3)).toEqual(["late1", "late2", "late3"]);
    while (unfinished() > 0) await finishNext();
    expect(await Promise.all(after)).toEqual(["late1", "late2", "late3"]);
  });
});
