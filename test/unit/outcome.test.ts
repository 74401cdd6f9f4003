// http_outcome's validation and normalisation (runtime-api/outcome.ts), run directly.
import { describe, expect, it } from "vitest";
import { toOutcome } from "../../runtime-api/outcome";

describe("toOutcome", () => {
  it("fills defaults", () => {
    expect(toOutcome(undefined)).toEqual({ status_code: 200, headers: [], body: "", more: false });
  });

  it("lower-cases header names, keeps order and repeats, and accepts pairs and iterables", () => {
    expect(
      toOutcome({ headers: { "X-A": "1", "Set-Cookie": ["a=1", "b=2"], "X-N": 5 } }).headers,
    ).toEqual([
      ["x-a", "1"],
      ["set-cookie", "a=1"],
      ["set-cookie", "b=2"],
      ["x-n", "5"],
    ]);
    expect(toOutcome({ headers: [["X-B", "2"]] }).headers).toEqual([["x-b", "2"]]);
    expect(toOutcome({ headers: new Map([["X-C", "3"]]) }).headers).toEqual([["x-c", "3"]]);
  });

  it("serializes json and adds its content type unless one is given", () => {
    expect(toOutcome({ json: { a: 1 } })).toMatchObject({
      body: '{"a":1}',
      headers: [["content-type", "application/json"]],
    });
    expect(toOutcome({ json: null }).body).toBe("null");
    expect(toOutcome({ json: [1], headers: { "Content-Type": "text/x" } }).headers).toEqual([
      ["content-type", "text/x"],
    ]);
  });

  it("copies bytes so later writes by the caller do not change what is sent", () => {
    const bytes = new Uint8Array([1, 2, 3]);
    const outcome = toOutcome({ body: bytes.subarray(1) });
    bytes[1] = 9;
    expect(outcome.body).toEqual(new Uint8Array([2, 3]));
    expect(toOutcome({ body: new Uint16Array([0x0102]).buffer }).body).toEqual(
      new Uint8Array([2, 1]),
    );
  });

  it.each([
    [{ status_code: 99 }, "between 100 and 599"],
    [{ status_code: 600 }, "between 100 and 599"],
    [{ status_code: 1.5 }, "must be an integer"],
    [{ status_code: "200" }, "must be an integer"],
    [{ status_code: NaN }, "must be an integer"],
    [{ body: "x", json: 1 }, "not both"],
    [{ headers: { "X-A": "a\r\nb: c" } }, "not allowed in a header value"],
    [{ headers: { "X-A": "a\nb" } }, "not allowed in a header value"],
    [{ headers: { "X-A": "nul\0" } }, "not allowed in a header value"],
    [{ headers: { "X-A": "€" } }, "above U+00FF"],
    [{ headers: { "Bad Name": "x" } }, "invalid header name"],
    [{ headers: { "": "x" } }, "invalid header name"],
    [{ headers: { "X-A": { toString: (): string => "x" } } }, "must be a string"],
    [{ headers: [["only-name"]] }, "[name, value] pairs"],
    [{ headers: "x: y" }, "headers must be an object"],
    [{ more: 1 }, "more must be a boolean"],
    [{ body: 42 }, "body must be a string or bytes"],
    [{ json: () => 1 }, "json cannot be serialized"],
    [{ json: undefined, status: 200 }, "unknown option status"],
    [null, "expected an options object"],
    ["text", "expected an options object"],
  ])("refuses %j with a TypeError", (options, message) => {
    expect(() => toOutcome(options)).toThrow(TypeError);
    expect(() => toOutcome(options)).toThrow(message);
  });

  it("bounds the headers: 1,000 of them, 64 KiB of names and values in all", () => {
    const many = Array.from({ length: 1000 }, (_, i) => [`x-h-${i}`, "v"]);
    expect(toOutcome({ headers: many }).headers).toHaveLength(1000);
    const bounds = /at most 1000 headers, with at most 65536 characters of names and values/;
    for (const headers of [
      [...many, ["x-one-more", "v"]],
      Array.from({ length: 20_000 }, (_, i) => [`x-h-${i}`, "v"]),
      { "x-big": "b".repeat(64 * 1024) },
      { "set-cookie": Array.from({ length: 3 }, () => "c".repeat(30_000)) },
    ]) {
      expect(() => toOutcome({ headers })).toThrow(TypeError);
      expect(() => toOutcome({ headers })).toThrow(bounds);
    }
    expect(toOutcome({ headers: { "x-big": "b".repeat(64 * 1024 - 5) } }).headers).toHaveLength(1);
  });

  it("reads each option once, so a getter cannot change its answer after the check", () => {
    let reads = 0;
    const options = {
      get status_code() {
        reads += 1;
        return reads === 1 ? 201 : 999;
      },
    };
    expect(toOutcome(options).status_code).toBe(201);
    expect(reads).toBe(1);
  });
});
