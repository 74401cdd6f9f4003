// The filter worker: evaluations in order, and a filter that runs too long or too big stopped.
import pino from "pino";
import { afterAll, expect, it } from "vitest";
import { toFilterEvent } from "../../src/subscriptions/filter";
import { FilterRunner } from "../../src/subscriptions/filter-runner";

const runner = new FilterRunner(pino({ level: "silent" }));
afterAll(() => runner.close());

let nextEvent = 0;
function event(text: string) {
  return toFilterEvent(`evt_${++nextEvent}`, {
    method: "POST",
    raw_url: "/hook?x=1",
    url: { path: "/hook", query: { x: "1" }, path_suffix: "" },
    headers: { "x-kind": "push" },
    body: { bytes: new TextEncoder().encode(text) },
  });
}

it("answers each filter of an event, in the order asked", async () => {
  const e = event('{"n": 3}');
  const verdicts = await Promise.all([
    runner.evaluate(e, ['data.headers["x-kind"] == "push"', "data.body.json.n > 5"], "t"),
    runner.evaluate(e, ['event_type == "post" && data.url.query.x == "1"'], "t"),
    runner.evaluate(e, ["data.missing.key == 1"], "t"),
  ]);
  expect(verdicts.map((each) => each.map((v) => v.pass))).toEqual([[true, false], [true], [false]]);
  // A filter that does not evaluate says why; one that is merely false does not.
  expect(verdicts[0]![1]!.error).toBeNull();
  expect(verdicts[2]![0]!.error).toMatch(/missing/);
});

it("stops a filter that runs too long, and the next evaluation gets a fresh worker", async () => {
  const slow = event("ab".repeat(200_000));
  const [stopped, after] = await Promise.all([
    runner.evaluate(slow, ['data.body.text.matches("[ab]{900}[ac]$")', "true"], "t"),
    runner.evaluate(event("{}"), ["true"], "t"),
  ]);
  expect(stopped.map((v) => v.pass)).toEqual([false, false]);
  expect(stopped[0]!.error).toMatch(/^the filters were stopped: took longer than \d+ ms$/);
  expect(after).toEqual([{ pass: true, error: null }]);
});

it("stops a filter that builds huge values", async () => {
  const body = event("x".repeat(1024 * 1024 - 16));
  const huge = `size(${Array(40).fill("data.body.text").join(" + ")}) == 1`;
  const [stopped] = await runner.evaluate(body, [huge], "t");
  expect(stopped!.pass).toBe(false);
  expect(await runner.evaluate(event("{}"), ["true"], "t")).toEqual([{ pass: true, error: null }]);
});

it("refuses evaluations at once while those waiting hold too many body bytes, then takes them again", async () => {
  const big = (i: number) => event(`"${String(i).padEnd(1024 * 1024 - 100, "x")}"`);
  const verdicts = await Promise.all(
    Array.from({ length: 80 }, (_, i) => runner.evaluate(big(i), ["true"], "t")),
  );
  const refused = verdicts.filter(
    ([v]) => v!.error === "too many events are waiting for their filters",
  );
  expect(refused.length).toBeGreaterThan(0);
  expect(verdicts.length - refused.length).toBeGreaterThanOrEqual(60);
  for (const [v] of refused) expect(v!.pass).toBe(false);
  expect(await runner.evaluate(big(0), ["true"], "t")).toEqual([{ pass: true, error: null }]);
});
