// The sandbox's Headers and Response, checked against Node's (undici) on the same inputs.
import { describe, expect, it } from "vitest";
import { Headers } from "../../runtime-api/web/headers";
import { Response } from "../../runtime-api/web/response";

describe("Headers", () => {
  it("iterates sorted and combined like Node's, with set-cookie kept apart", () => {
    const init: [string, string][] = [
      ["B", "2"],
      ["a", "1"],
      ["b", "3"],
      ["Set-Cookie", "x=1"],
      ["set-cookie", "y=2"],
    ];
    const ours = new Headers(init);
    const theirs = new globalThis.Headers(init);
    expect([...ours]).toEqual([...theirs]);
    expect(ours.get("b")).toBe(theirs.get("b"));
    expect(ours.getSetCookie()).toEqual(theirs.getSetCookie());
    ours.set("B", "9");
    theirs.set("B", "9");
    ours.delete("a");
    theirs.delete("a");
    expect([...ours]).toEqual([...theirs]);
  });

  it("trims values and refuses invalid names and values", () => {
    expect(new Headers({ x: "  v \t" }).get("x")).toBe("v");
    expect(() => new Headers({ "a b": "x" })).toThrow(TypeError);
    expect(() => new Headers({ x: "a\r\nb" })).toThrow(TypeError);
  });
});

describe("Response", () => {
  it("reads bodies and sets content types like Node's", async () => {
    for (const [body, init] of [
      ["héllo", {}],
      [new Uint8Array([1, 2]), { status: 201 }],
      [null, { status: 204 }],
    ] as const) {
      const ours = new Response(body as never, init);
      const theirs = new globalThis.Response(body as never, init);
      expect(ours.status).toBe(theirs.status);
      expect(ours.ok).toBe(theirs.ok);
      expect(ours.headers.get("content-type")).toBe(theirs.headers.get("content-type"));
      expect(new Uint8Array(await ours.arrayBuffer())).toEqual(
        new Uint8Array(await theirs.arrayBuffer()),
      );
    }
  });

  it("builds JSON and redirects, and enforces status rules", async () => {
    const json = Response.json({ a: 1 }, { status: 202 });
    expect(json.status).toBe(202);
    expect(json.headers.get("content-type")).toBe("application/json");
    expect(await json.json()).toEqual({ a: 1 });
    expect(Response.redirect("https://example.com/x", 301).headers.get("location")).toBe(
      "https://example.com/x",
    );
    expect(() => new Response("x", { status: 204 })).toThrow(TypeError);
    expect(() => new Response(null, { status: 99 })).toThrow(RangeError);
    expect(Response.error().status).toBe(0);
  });

  it("can be read once, and cloned before that", async () => {
    const response = new Response("once");
    const copy = response.clone();
    expect(await response.text()).toBe("once");
    expect(response.bodyUsed).toBe(true);
    await expect(response.text()).rejects.toThrow(TypeError);
    expect(await copy.text()).toBe("once");
  });
});
