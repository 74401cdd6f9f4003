// The sandbox's structuredClone, run here in Node and checked against Node's own (V8's) on the
// same inputs where the two should agree.
import { describe, expect, it } from "vitest";
import { DOMException } from "../../runtime-api/web/dom-exception";
import { Headers } from "../../runtime-api/web/headers";
import { Request } from "../../runtime-api/web/request";
import { Response } from "../../runtime-api/web/response";
import { structuredClone as clone } from "../../runtime-api/web/structured-clone";
import { URL, URLSearchParams } from "../../runtime-api/web/url";
import { TextDecoder, TextEncoder } from "../../runtime-api/encoding";

const native = globalThis.structuredClone;

type Resizable = ArrayBuffer & {
  resizable: boolean;
  maxByteLength: number;
  resize(length: number): void;
};
const resizable = (length: number, maxByteLength: number) =>
  new (ArrayBuffer as unknown as new (n: number, o: object) => Resizable)(length, {
    maxByteLength,
  });

/** What clone(value) threw, or "no throw". */
function thrown(value: unknown, options?: object): unknown {
  try {
    clone(value, options as never);
    return "no throw";
  } catch (error) {
    return error;
  }
}

function expectDataCloneError(value: unknown, message?: RegExp): void {
  const error = thrown(value);
  expect(error).toBeInstanceOf(DOMException);
  expect((error as DOMException).name).toBe("DataCloneError");
  expect((error as DOMException).code).toBe(25);
  if (message) expect((error as DOMException).message).toMatch(message);
}

describe("primitives", () => {
  it("come back as they are, bigint too", () => {
    for (const value of [undefined, null, true, false, 0, -0, NaN, Infinity, "", "s", 10n]) {
      expect(Object.is(clone(value), value)).toBe(true);
    }
  });

  it("refuse symbols and functions with a DataCloneError", () => {
    expectDataCloneError(Symbol("s"), /a symbol cannot be cloned/);
    expectDataCloneError(() => 1, /a function cannot be cloned/);
    expectDataCloneError(class {}, /a function/);
    expectDataCloneError({ nested: [{ f() {} }] }, /a function/);
  });

  it("need an argument", () => {
    expect(() => (clone as () => unknown)()).toThrow(TypeError);
  });
});

describe("wrapper objects, Date and RegExp", () => {
  it("copy Boolean, Number, String and BigInt objects", () => {
    for (const value of [Object(false), Object(-0), Object("text"), Object(12n)]) {
      const copy = clone(value) as object;
      expect(copy).not.toBe(value);
      expect(typeof copy).toBe("object");
      expect(Object.getPrototypeOf(copy)).toBe(Object.getPrototypeOf(value));
      expect(Object.is(copy.valueOf(), value.valueOf())).toBe(true);
    }
  });

  it("refuse Symbol objects", () => {
    expectDataCloneError(Object(Symbol("s")));
  });

  it("copy dates, invalid ones included", () => {
    for (const date of [new Date(5), new Date(NaN), new Date(8.64e15)]) {
      const copy = clone(date) as Date;
      expect(copy).toBeInstanceOf(Date);
      expect(copy).not.toBe(date);
      expect(Object.is(copy.getTime(), date.getTime())).toBe(true);
    }
  });

  it("copy a RegExp's source and flags, not its lastIndex", () => {
    for (const regexp of [
      /a+b/dgimsuy,
      new RegExp("[\\p{L}--[a-z]]", "v"),
      new RegExp("/x" + String.fromCharCode(10), "g"),
      /(?:)/,
    ]) {
      regexp.lastIndex = 3;
      const copy = clone(regexp) as RegExp;
      const theirs = native(regexp);
      expect(copy).toBeInstanceOf(RegExp);
      expect([copy.source, copy.flags, copy.lastIndex]).toEqual([
        theirs.source,
        theirs.flags,
        theirs.lastIndex,
      ]);
      expect(copy.lastIndex).toBe(0);
    }
  });
});

describe("ArrayBuffer and views", () => {
  it("copy a buffer's bytes into a buffer of its own", () => {
    const buffer = new Uint8Array([1, 2, 3]).buffer;
    const copy = clone(buffer) as ArrayBuffer;
    expect(copy).toBeInstanceOf(ArrayBuffer);
    expect(copy).not.toBe(buffer);
    expect([...new Uint8Array(copy)]).toEqual([1, 2, 3]);
    new Uint8Array(buffer)[0] = 9;
    expect(new Uint8Array(copy)[0]).toBe(1);
  });

  it("keep a resizable buffer resizable, with its maximum", () => {
    const buffer = resizable(4, 64);
    new Uint8Array(buffer).set([4, 3, 2, 1]);
    const copy = clone(buffer) as Resizable;
    expect([copy.resizable, copy.byteLength, copy.maxByteLength]).toEqual([true, 4, 64]);
    expect([...new Uint8Array(copy)]).toEqual([4, 3, 2, 1]);
    expect((clone(new ArrayBuffer(2)) as Resizable).resizable).toBe(false);
  });

  it("copy every kind of typed array and DataView, at the same offset, with the whole buffer", () => {
    const kinds = [
      Int8Array,
      Uint8Array,
      Uint8ClampedArray,
      Int16Array,
      Uint16Array,
      Int32Array,
      Uint32Array,
      Float32Array,
      Float64Array,
      BigInt64Array,
      BigUint64Array,
    ];
    for (const Kind of kinds) {
      const buffer = new ArrayBuffer(64);
      new Uint8Array(buffer).forEach((_, i, bytes) => (bytes[i] = i));
      const view = new Kind(buffer, 8, 3);
      const copy = clone(view) as typeof view;
      const theirs = native(view);
      expect(copy).toBeInstanceOf(Kind);
      expect(copy).toStrictEqual(theirs);
      expect([copy.byteOffset, copy.length, copy.buffer.byteLength]).toEqual([8, 3, 64]);
      expect(copy.buffer).not.toBe(buffer);
    }
    const view = new DataView(new ArrayBuffer(16), 4, 6);
    view.setUint16(4, 0xbeef);
    const copy = clone(view) as DataView;
    expect(copy).toBeInstanceOf(DataView);
    expect([copy.byteOffset, copy.byteLength, copy.getUint16(4)]).toEqual([4, 6, 0xbeef]);
  });

  it("give views that share a buffer one copy of it", () => {
    const buffer = new ArrayBuffer(8);
    const value = { a: new Uint8Array(buffer, 0, 4), b: new DataView(buffer, 2), buffer };
    const copy = clone(value) as typeof value;
    expect(copy.a.buffer).toBe(copy.buffer);
    expect(copy.b.buffer).toBe(copy.buffer);
    copy.a[2] = 7;
    expect(copy.b.getUint8(0)).toBe(7);
    expect(new Uint8Array(buffer)[2]).toBe(0);
  });

  it("keep views of a resizable buffer following its length, or not, as Node does", () => {
    const buffer = resizable(8, 32);
    const views = [
      new Uint16Array(buffer),
      new Uint16Array(buffer, 0, 4),
      new Uint16Array(buffer, 2, 1),
      new DataView(buffer, 2),
      new DataView(buffer, 2, 6),
    ];
    const ours = clone(views) as typeof views;
    const theirs = native(views);
    for (const copies of [ours, theirs]) (copies[0]!.buffer as Resizable).resize(16);
    expect(ours.map((v) => v.byteLength)).toEqual(theirs.map((v) => v.byteLength));
    expect(ours.map((v) => v.byteLength)).toEqual([16, 8, 2, 14, 6]);
    expect(buffer.byteLength).toBe(8);
  });

  it("tell a view that follows a buffer at its maximum, and leave the buffer as it was", () => {
    const buffer = resizable(8, 8);
    new Uint8Array(buffer).set([1, 2, 3, 4, 5, 6, 7, 8]);
    const [follows, fixed] = clone([new Uint8Array(buffer), new Uint8Array(buffer, 0, 8)]) as [
      Uint8Array,
      Uint8Array,
    ];
    (follows.buffer as Resizable).resize(4);
    expect([follows.length, fixed.length]).toEqual([4, 0]);
    expect([...new Uint8Array(buffer)]).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
  });

  it("refuse a view out of its buffer's bounds", () => {
    const buffer = resizable(8, 8);
    const view = new Uint8Array(buffer, 4, 4);
    buffer.resize(2);
    expectDataCloneError(view, /out of its buffer's bounds/);
    expect(() => native(view)).toThrow();
  });
});

describe("Map and Set", () => {
  it("are real Maps and Sets of this realm, with their entries cloned", () => {
    const key = { k: 1 };
    const map = new Map<unknown, unknown>([
      [key, new Set([key])],
      ["d", new Date(1)],
    ]);
    const copy = clone(map) as typeof map;
    expect(copy).toBeInstanceOf(Map);
    expect(Object.getPrototypeOf(copy)).toBe(Map.prototype);
    expect(copy).toStrictEqual(native(map));
    const [copiedKey, copiedSet] = [...copy][0]! as [object, Set<unknown>];
    expect(copiedKey).not.toBe(key);
    expect(copiedSet).toBeInstanceOf(Set);
    expect([...copiedSet][0]).toBe(copiedKey);
  });

  it("hold themselves when the original did", () => {
    const map = new Map<string, unknown>();
    map.set("self", map);
    const set = new Set<unknown>();
    set.add(set);
    const copy = clone({ map, set }) as { map: typeof map; set: typeof set };
    expect(copy.map.get("self")).toBe(copy.map);
    expect([...copy.set][0]).toBe(copy.set);
  });

  it("refuse proxies of Maps", () => {
    expectDataCloneError(new Proxy(new Map(), {}), /tagged Map that is not one/);
  });
});

describe("errors", () => {
  it("keep the seven error types, message, stack and cause", () => {
    for (const Type of [
      Error,
      EvalError,
      RangeError,
      ReferenceError,
      SyntaxError,
      TypeError,
      URIError,
    ]) {
      const error = new Type("boom", { cause: { why: [1] } });
      const copy = clone(error) as Error;
      expect(copy).toBeInstanceOf(Type);
      expect(copy.constructor).toBe(Type);
      expect([copy.name, copy.message, copy.stack]).toEqual([Type.name, "boom", error.stack]);
      expect(copy.cause).toEqual({ why: [1] });
      expect(copy.cause).not.toBe(error.cause);
      expect(Object.getOwnPropertyDescriptor(copy, "message")?.enumerable).toBe(false);
    }
  });

  it("make any other name an Error, and leave out what the original did not have", () => {
    class MyError extends Error {
      override name = "MyError";
    }
    const copy = clone(new MyError("m")) as Error;
    expect(copy.constructor).toBe(Error);
    expect(copy.message).toBe("m");
    const bare = clone(new AggregateError([])) as Error;
    expect(bare.constructor).toBe(Error);
    expect(Object.hasOwn(bare, "message")).toBe(false);
    expect(Object.hasOwn(bare, "cause")).toBe(false);
    expect(Object.hasOwn(clone(new TypeError("x")) as Error, "cause")).toBe(false);
  });

  it("keep an error that is its own cause", () => {
    const error = new Error("loop");
    error.cause = error;
    const copy = clone(error) as Error;
    expect(copy.cause).toBe(copy);
  });

  it("keep a DOMException a DOMException", () => {
    const copy = clone(new DOMException("bad", "InvalidCharacterError")) as DOMException;
    expect(copy).toBeInstanceOf(DOMException);
    expect([copy.name, copy.message, copy.code]).toEqual(["InvalidCharacterError", "bad", 5]);
  });
});

describe("arrays and plain objects", () => {
  it("keep holes, length and extra properties of arrays", () => {
    const array: unknown[] & { extra?: string } = [1, 2, 3];
    delete array[1];
    array.length = 5;
    array.extra = "x";
    const copy = clone(array) as typeof array;
    expect(Array.isArray(copy)).toBe(true);
    expect(copy).toStrictEqual(native(array));
    expect(copy.length).toBe(5);
    expect(1 in copy).toBe(false);
    expect(copy.extra).toBe("x");
  });

  it("copy own enumerable string keys only, as plain objects, getters read", () => {
    class Point {
      constructor(public x: number) {}
      get double() {
        return this.x * 2;
      }
    }
    let reads = 0;
    const value = {
      point: new Point(2),
      get counted() {
        return ++reads;
      },
      [Symbol("hidden")]: 1,
      ["__proto__"]: 7,
    };
    Object.defineProperty(value, "secret", { value: 1, enumerable: false });
    Object.defineProperty(value, "__proto__", { value: 8, enumerable: true });
    const copy = clone(value) as Record<string, unknown>;
    reads = 0;
    expect(copy).toStrictEqual(native(value));
    expect(Object.getPrototypeOf(copy.point)).toBe(Object.prototype);
    expect(copy.point).toEqual({ x: 2 });
    expect(Object.getOwnPropertyDescriptor(copy, "counted")).toMatchObject({ value: 1 });
    expect(Object.getOwnPropertySymbols(copy)).toEqual([]);
    expect(Object.hasOwn(copy, "secret")).toBe(false);
    expect(Object.getOwnPropertyDescriptor(copy, "__proto__")?.value).toBe(8);
    expect(Object.getPrototypeOf(copy)).toBe(Object.prototype);
  });

  it("read getters in the order Node does, and let their errors through", () => {
    const order = (log: string[]) => ({
      get a() {
        log.push("a");
        return {
          get inner() {
            log.push("a.inner");
            return 1;
          },
        };
      },
      get b() {
        log.push("b");
        return [
          {
            get c() {
              log.push("b.0.c");
              return 2;
            },
          },
        ];
      },
    });
    const ours: string[] = [];
    const theirs: string[] = [];
    clone(order(ours));
    native(order(theirs));
    expect(ours).toEqual(theirs);
    const failure = new RangeError("getter says no");
    expect(
      thrown({
        get x() {
          throw failure;
        },
      }),
    ).toBe(failure);
  });

  it("skip a key an earlier getter deleted", () => {
    const value: Record<string, unknown> = {
      get first() {
        delete value.second;
        return 1;
      },
      second: 2,
    };
    expect(clone(value)).toEqual({ first: 1 });
  });

  it("keep cycles and shared references", () => {
    const shared = { n: 1 };
    const value: Record<string, unknown> = { a: shared, b: [shared, shared] };
    value.self = value;
    const copy = clone(value) as any;
    expect(copy.self).toBe(copy);
    expect(copy.a).toBe(copy.b[0]);
    expect(copy.b[1]).toBe(copy.a);
    expect(copy.a).not.toBe(shared);
  });

  it("agree with Node on a value of everything", () => {
    const buffer = new ArrayBuffer(8);
    const value = {
      n: [1, -0, NaN, 2n, "s", null, undefined, true],
      wrapped: [Object(1), Object("s"), Object(false)],
      date: new Date(0),
      map: new Map([[{ k: 1 }, [new Set(["x"])]]]),
      views: [new Uint8Array(buffer), new Float64Array(buffer), new DataView(buffer, 1, 2)],
      nested: { deeper: { deepest: [[[]]] } },
    };
    expect(clone(value)).toStrictEqual(native(value));
  });
});

describe("the built-ins it uses", () => {
  it("are those there were when it loaded, whatever is there now", () => {
    const value = { map: new Map([[1, 2]]), set: new Set([3]), date: new Date(4), list: [5] };
    const saved = {
      mapSet: Map.prototype.set,
      setAdd: Set.prototype.add,
      getTime: Date.prototype.getTime,
      defineProperty: Object.defineProperty,
      keys: Object.keys,
      Map: globalThis.Map,
    };
    const calls: string[] = [];
    const spy = <F extends (...args: any[]) => any>(name: string, original: F) =>
      function (this: unknown, ...args: unknown[]) {
        calls.push(name);
        return original.apply(this, args);
      };
    let copy: typeof value;
    try {
      Map.prototype.set = spy("Map.prototype.set", saved.mapSet);
      Set.prototype.add = spy("Set.prototype.add", saved.setAdd);
      Date.prototype.getTime = spy("Date.prototype.getTime", saved.getTime);
      Object.defineProperty = spy("Object.defineProperty", saved.defineProperty) as never;
      Object.keys = spy("Object.keys", saved.keys);
      globalThis.Map = function () {
        calls.push("Map");
      } as never;
      copy = clone(value) as typeof value;
    } finally {
      Object.assign(Map.prototype, { set: saved.mapSet });
      Object.assign(Set.prototype, { add: saved.setAdd });
      Object.assign(Date.prototype, { getTime: saved.getTime });
      Object.assign(Object, { defineProperty: saved.defineProperty, keys: saved.keys });
      globalThis.Map = saved.Map;
    }
    expect(calls).toEqual([]);
    expect(copy).toStrictEqual(value);
  });
});

describe("what cannot be cloned", () => {
  it("throws a DataCloneError for weak collections, promises, iterators and proxies of them", () => {
    const values: [unknown, RegExp][] = [
      [new WeakMap(), /a WeakMap/],
      [new WeakSet(), /a WeakSet/],
      [new WeakRef({}), /a WeakRef/],
      [Promise.resolve(), /a Promise/],
      [new Proxy(new WeakMap(), {}), /a WeakMap/],
      [new Proxy(Promise.resolve(), {}), /a Promise/],
      [new Proxy(() => 1, {}), /a function/],
      [(function* () {})(), /a generator/],
      [(async function* () {})(), /an async generator/],
      [[1].values(), /an Array Iterator/],
      [new Map().keys(), /a Map Iterator/],
      [new Set().entries(), /a Set Iterator/],
      [new Intl.NumberFormat(), /an Intl.NumberFormat/],
      [new SharedArrayBuffer(1), /a SharedArrayBuffer/],
      [{ inside: new WeakMap() }, /a WeakMap/],
    ];
    for (const [value, message] of values) expectDataCloneError(value, message);
  });

  it("throws a DataCloneError for the runtime's own classes", () => {
    const url = new URL("https://example.com/?a=1");
    const values: [unknown, RegExp][] = [
      [url, /a URL/],
      [url.searchParams, /a URLSearchParams/],
      [new URLSearchParams("a=1").entries(), /a URLSearchParams Iterator/],
      [new Headers(), /a Headers/],
      [new Headers().entries(), /a generator/],
      [new Request("https://example.com/"), /a Request/],
      [new Response("x"), /a Response/],
      [new TextEncoder(), /a TextEncoder/],
      [new TextDecoder(), /a TextDecoder/],
    ];
    for (const [value, message] of values) expectDataCloneError(value, message);
  });

  it("throws a DataCloneError for a revoked proxy", () => {
    const { proxy, revoke } = Proxy.revocable({}, {});
    revoke();
    expectDataCloneError(proxy, /a revoked proxy/);
  });
});

describe("options.transfer", () => {
  it("takes an empty list, or none", () => {
    expect(clone({ a: 1 }, { transfer: [] })).toEqual({ a: 1 });
    expect(clone(1, null as never)).toBe(1);
    expect(clone(1, {})).toBe(1);
  });

  it("refuses to transfer ArrayBuffers (this V8 cannot detach them), and anything else", () => {
    const buffer = new ArrayBuffer(4);
    const refused = thrown(buffer, { transfer: [buffer] }) as DOMException;
    expect(refused).toBeInstanceOf(DOMException);
    expect(refused.name).toBe("DataCloneError");
    expect(refused.message).toMatch(/ArrayBuffers cannot be transferred/);
    expect(buffer.byteLength).toBe(4);
    expect((thrown(1, { transfer: [{}] }) as DOMException).name).toBe("DataCloneError");
  });

  it("reads the list as a sequence of objects, as WebIDL does", () => {
    expect(thrown(1, { transfer: 5 })).toBeInstanceOf(TypeError);
    expect(thrown(1, { transfer: { length: 0 } })).toBeInstanceOf(TypeError);
    expect(thrown(1, { transfer: [1] })).toBeInstanceOf(TypeError);
    expect(thrown(1, 5 as never)).toBeInstanceOf(TypeError);
    const seen: string[] = [];
    const list = {
      [Symbol.iterator]() {
        seen.push("iterated");
        return [][Symbol.iterator]();
      },
    };
    expect(clone("x", { transfer: list })).toBe("x");
    expect(seen).toEqual(["iterated"]);
  });
});
