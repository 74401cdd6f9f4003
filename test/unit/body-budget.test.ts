import { describe, expect, it } from "vitest";
import { BodiesBusyError } from "../../src/errors";
import { BodyBudget, bodyCapsFor } from "../../src/webhooks/body-budget";

const KiB = 1024;
const MiB = 1024 * KiB;
/** Every body's first 16 KiB are free. */
const FREE = 16 * KiB;

/** A hold of `bytes` counted bytes (after the free ones), taken in one go. */
function held(budget: BodyBudget, project: string, bytes: number) {
  const hold = budget.open(project);
  hold.add(FREE + bytes);
  return hold;
}

describe("BodyBudget", () => {
  it("holds bodies against their project's share and the server's, until let go", () => {
    const budget = new BodyBudget({ project: 3 * MiB, server: 5 * MiB });
    const a1 = held(budget, "a", 2 * MiB);
    held(budget, "a", MiB);
    expect(() => held(budget, "a", 1)).toThrow(BodiesBusyError);
    expect(() => held(budget, "a", 1)).toThrow(
      "the request bodies in progress for this project take 3145728 bytes already; retry later",
    );
    // Another project still has room, up to what the server allows.
    held(budget, "b", 2 * MiB);
    expect(() => held(budget, "c", 1)).toThrow(/for this server take 5242880 bytes/);
    expect(budget.held).toBe(5 * MiB);

    a1.release();
    a1.release(); // letting go twice changes nothing
    expect(budget.held).toBe(3 * MiB);
    held(budget, "a", 2 * MiB);
  });

  it("grows a hold as the body arrives, and refuses it at the chunk that goes past the share", () => {
    const budget = new BodyBudget({ project: MiB, server: MiB });
    const hold = budget.open("a");
    for (let i = 0; i < 64; i++) hold.add(16 * KiB);
    expect(budget.held).toBe(MiB - FREE);
    hold.add(FREE);
    expect(budget.held).toBe(MiB);
    expect(() => hold.add(1)).toThrow(BodiesBusyError);
    hold.release();
    expect(budget.held).toBe(0);
  });

  it("does not count the first 16 KiB of a body", () => {
    const budget = new BodyBudget({ project: 64 * KiB, server: 64 * KiB });
    for (let i = 0; i < 1000; i++) budget.open("a").add(FREE);
    expect(budget.held).toBe(0);
  });

  it("answers 503 with a Retry-After", () => {
    const budget = new BodyBudget({ project: MiB, server: MiB });
    held(budget, "a", MiB);
    try {
      held(budget, "a", 1);
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(BodiesBusyError);
      expect((error as BodiesBusyError).status).toBe(503);
      expect((error as BodiesBusyError).retryAfterSeconds).toBe(1);
      expect((error as BodiesBusyError).expose).toBe(true);
    }
  });

  it("leaves room for several bodies of the largest size, whatever the limit", () => {
    expect(bodyCapsFor(10 * MiB)).toEqual({ project: 64 * MiB, server: 256 * MiB });
    expect(bodyCapsFor(100 * MiB)).toEqual({ project: 400 * MiB, server: 1600 * MiB });
  });
});
