// Filters that read a field event data never has are refused when they are deployed or
// subscribed; the maps whose keys come from the request take any key.
import { parse } from "@bufbuild/cel";
import { describe, expect, it } from "vitest";
import { checkFilter, compileFilter, FilterError } from "../../src/subscriptions/filter";
import { stringFieldMisuse, unknownDataField } from "../../src/subscriptions/filter-fields";

const problem = (source: string) => unknownDataField(parse(source).expr);

describe("fields a filter reads", () => {
  it("may be any field data has, and any key of the maps a request fills", () => {
    for (const source of [
      'data.method == "POST"',
      'data["url"]["query"]["id"] == "1"',
      'data.url.path.startsWith("/a") && data.url.path_suffix == ""',
      'data.headers["x-github-event"] == "push" && data.headers.anything == "x"',
      "data.body.json.user.name.size() > 0 && data.body.form.a == 'b'",
      "size(data.body.bytes) > 0 && data.body.text != null && data.raw_url != ''",
      "has(data.body.json.maybe) || has(data.url.query.page)",
      'event_type == "post"',
      // A macro's own variable named data is not the event's.
      "data.body.json.items.exists(data, data.mthod == 1)",
      "[data.url].all(u, u.anything == 1)",
    ])
      expect(problem(source), source).toBeNull();
  });

  it("is named, with the fields there are, when data cannot have it", () => {
    expect(problem('data.mthod == "POST"')).toBe(
      'data has no field "mthod"; its fields are method, raw_url, url, headers, body',
    );
    expect(problem('data["url"]["pth"] == "/"')).toBe(
      'data.url has no field "pth"; its fields are path, query, path_suffix',
    );
    expect(problem("has(data.body.jsn)")).toBe(
      'data.body has no field "jsn"; its fields are bytes, text, json, form',
    );
    expect(problem('data.url.query.id == "1" && data.header["x"] == "y"')).toBe(
      'data has no field "header"; its fields are method, raw_url, url, headers, body',
    );
    expect(problem("data.body.json.items.exists(x, data.bdy == x)")).toMatch(
      /^data has no field "bdy"/,
    );
  });

  it("refuses such a filter when it is new, and still evaluates one stored before", () => {
    expect(() => checkFilter('data.mthod == "POST"')).toThrow(FilterError);
    expect(() => checkFilter('data.mthod == "POST"')).toThrow(
      'filter "data.mthod == \\"POST\\"" reads a field events never have: data has no field "mthod"',
    );
    // A deployment or subscription stored before this check keeps working as it did: CEL's
    // error for the missing key, and the event does not pass.
    const stored = compileFilter('data.mthod == "POST"');
    expect(stored).toBeTypeOf("function");
  });
});

describe("fields that are always strings", () => {
  const misuse = (source: string) => stringFieldMisuse(parse(source).expr);

  it("may be compared with strings, listed with in, converted, measured", () => {
    for (const source of [
      'data.url.query.id == "42"',
      'data.headers["x-kind"] in ["a", "b"]',
      '"id" in data.url.query && "x-kind" in data.headers',
      "int(data.url.query.n) == 4 && data.method.size() == 4",
      "data.body.json.n == 42 && data.body.json.ok == true",
      'data.url.path.contains("approve") && event_type == "post"',
      "has(data.headers.x)",
      // A macro's own variable named event_type is not the event's.
      'data.body.json.items.exists(event_type, event_type == 3 || "a" in event_type)',
    ])
      expect(misuse(source), source).toBeNull();
  });

  it("are named when compared with a number or boolean, searched with in, or taken for the verdict", () => {
    expect(misuse("data.url.query.id == 42")).toBe(
      'compares data.url.query.id, which is always a string, with 42: write "42"',
    );
    expect(misuse('true != data.headers["x-flag"]')).toBe(
      'compares data.headers["x-flag"], which is always a string, with true: write "true"',
    );
    expect(misuse('"approve" in data.url.path_suffix')).toBe(
      'uses in on data.url.path_suffix, which is a string, not a list or map (to look inside it: data.url.path_suffix.contains("…"))',
    );
    expect(misuse("data.method")).toBe(
      'is data.method, a string: a filter passes only when it is true (compare it: data.method == "…")',
    );
  });

  it("in a header name with a hyphen after a dot are shown how to write it", () => {
    const hint = (source: string) => {
      try {
        checkFilter(source);
        return null;
      } catch (error) {
        return /\(a key with "-" goes in brackets: (.*)\)$/.exec((error as Error).message)?.[1];
      }
    };
    expect(hint('data.headers.x-github-event == "push"')).toBe('data.headers["x-github-event"]');
    // Digits after a hyphen, and header names as data holds them: lower case.
    expect(hint('data.headers.X-Hub-Signature-256 == "sha256=abc"')).toBe(
      'data.headers["x-hub-signature-256"]',
    );
    expect(hint('data.url.query.page-size == "1"')).toBe('data.url.query["page-size"]');
    // No hint where pasting one would not work: not from inside a string, not after brackets.
    expect(hint('data.url.path == "/a.b-c" && c')).toBeUndefined();
    expect(hint('data.headers["a"].x-y == "1"')).toBeUndefined();
  });

  it("refuse such a filter when it is new", () => {
    expect(() => checkFilter("data.url.query.id == 42")).toThrow(
      'filter "data.url.query.id == 42" compares data.url.query.id, which is always a string, with 42: write "42"',
    );
  });
});
