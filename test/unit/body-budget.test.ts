import { describe, expect, it } from "vitest";
import { BodiesBusyError } from "../../src/errors";
import { BodyBudget, bodyCapsFor } from "../../src/webhooks/body-budget";

const MiB = 1024 * 1024;

describe("BodyBudget", () => {
  it("holds large bodies against their project's cap and the server's, until let go", () => {
    const budget = new BodyBudget({ project: 3 * MiB, server: 5 * MiB });
    const a1 = budget.hold("a", 2 * MiB);
    budget.hold("a", MiB);
    expect(() => budget.hold("a", MiB)).toThrow(BodiesBusyError);
    expect(() => budget.hold("a", MiB)).toThrow(
      "the request bodies in progress for this project take 3145728 bytes already; retry later",
    );
    // Another project still has room, up to what the server allows.
    budget.hold("b", 2 * MiB);
    expect(() => budget.hold("c", MiB)).toThrow(/for this server take 5242880 bytes/);
    expect(budget.held).toBe(5 * MiB);

    a1();
    a1(); // letting go twice changes nothing
    expect(budget.held).toBe(3 * MiB);
    budget.hold("a", 2 * MiB);
  });

  it("does not count small bodies", () => {
    const budget = new BodyBudget({ project: 64 * 1024, server: 64 * 1024 });
    for (let i = 0; i < 1000; i++) budget.hold("a", 16 * 1024 - 1);
    expect(budget.held).toBe(0);
  });

  it("answers 503 with a Retry-After", () => {
    const budget = new BodyBudget({ project: MiB, server: MiB });
    budget.hold("a", MiB);
    try {
      budget.hold("a", MiB);
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
