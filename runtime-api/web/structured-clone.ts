/**
 * `structuredClone`, after the HTML Standard's StructuredSerialize and StructuredDeserialize.
 * The clone lands in the realm it came from, so both steps are done in one pass: each value is
 * read (getters run, in the standard's order) and its copy made at once, with a memory of what
 * was copied so that cycles and shared references come out the same.
 *
 * Every session of a deployment shares this realm. So the copies are made only with the
 * realm's own constructors and methods, captured when this module loads (before user code
 * exists; the arrays it makes for itself use the methods of the prototype lockdown froze), and
 * nothing outlives a call: a clone of a Map is a `Map` whose prototype is the frozen
 * `Map.prototype`, and there is nothing of this module for a session to change.
 *
 * What a value is comes from its tag (`Object.prototype.toString`), confirmed by a method that
 * checks the internal slot (`Map.prototype.size` throws for anything but a Map). A value that
 * claims a kind it does not have (a proxy of a Map, say) throws a "DataCloneError", as do
 * functions, symbols, WeakMaps, promises, iterators and the runtime's own classes (URL,
 * Headers, ...; found by their prototypes, so proxies of them too). A proxy of a plain object
 * or an array cannot be told from one in JavaScript, and is copied through its traps. A value
 * that hides its kind (an own `Symbol.toStringTag` of "Object") is copied as a plain object.
 */
import { TextDecoder, TextEncoder } from "../encoding";
import { CryptoKey } from "./crypto";
import { DOMException, domExceptionName } from "./dom-exception";
import { Headers } from "./headers";
import { Request } from "./request";
import { Response } from "./response";
import { URL, URLSearchParams } from "./url";
import {
  cloneView,
  copyBuffer,
  getter,
  isArrayBuffer,
  notCloneable,
  type Memory,
  type Method,
} from "./structured-clone-buffers";

export interface StructuredSerializeOptions {
  transfer?: Iterable<unknown>;
}

const { apply, getPrototypeOf } = Reflect;
const { defineProperty, getOwnPropertyDescriptor, keys: ownEnumerableKeys } = Object;
const NativeObject = Object;
const NativeError = Error;
const NativeTypeError = TypeError;
const NativeArray = Array;
const NativeMap = Map;
const NativeSet = Set;
const NativeDate = Date;
const NativeRegExp = RegExp;
const NativeBoolean = Boolean;
const NativeNumber = Number;
const NativeString = String;
const isArray = Array.isArray;
const isView = ArrayBuffer.isView;
const hasOwnProperty = Object.prototype.hasOwnProperty;
const objectToString = Object.prototype.toString;
const mapGet = Map.prototype.get;
const mapSet = Map.prototype.set;
const mapForEach = Map.prototype.forEach;
const mapSize = getter(Map.prototype, "size");
const setAdd = Set.prototype.add;
const setForEach = Set.prototype.forEach;
const setSize = getter(Set.prototype, "size");
const dateGetTime = Date.prototype.getTime;
const booleanValueOf = Boolean.prototype.valueOf;
const numberValueOf = Number.prototype.valueOf;
const stringValueOf = String.prototype.valueOf;
const bigintValueOf = BigInt.prototype.valueOf;
const regExpSource = getter(RegExp.prototype, "source");
/** The flags in the order `RegExp.prototype.flags` lists them, each read from its own slot. */
const REGEXP_FLAGS: [flag: string, read: Method][] = [];
for (const [flag, name] of [
  ["d", "hasIndices"],
  ["g", "global"],
  ["i", "ignoreCase"],
  ["m", "multiline"],
  ["s", "dotAll"],
  ["u", "unicode"],
  ["v", "unicodeSets"],
  ["y", "sticky"],
] as const) {
  const read = getOwnPropertyDescriptor(RegExp.prototype, name)?.get;
  if (read !== undefined) REGEXP_FLAGS.push([flag, read]);
}

const ERROR_TYPES = new NativeMap<unknown, ErrorConstructor>([
  ["Error", Error],
  ["EvalError", EvalError],
  ["RangeError", RangeError],
  ["ReferenceError", ReferenceError],
  ["SyntaxError", SyntaxError],
  ["TypeError", TypeError],
  ["URIError", URIError],
]);

/** Prototypes whose instances cannot be cloned, and what to call them when one is tried. */
const NOT_CLONEABLE = new NativeMap<object, string>([
  [WeakMap.prototype, "a WeakMap"],
  [WeakSet.prototype, "a WeakSet"],
  [Promise.prototype, "a Promise"],
  [Symbol.prototype, "a Symbol object"],
  [prototypeOf(generator), "a generator"],
  [prototypeOf(asyncGenerator), "an async generator"],
  [protoOf([][Symbol.iterator]()), "an Array Iterator"],
  [protoOf(new Map().entries()), "a Map Iterator"],
  [protoOf(new Set().values()), "a Set Iterator"],
  [protoOf(""[Symbol.iterator]()), "a String Iterator"],
  [protoOf("".matchAll(/(?:)/g)), "a RegExp String Iterator"],
  [URL.prototype, "a URL"],
  [URLSearchParams.prototype, "a URLSearchParams"],
  [protoOf(new URLSearchParams().keys()), "a URLSearchParams Iterator"],
  [Headers.prototype, "a Headers"],
  [Request.prototype, "a Request"],
  [Response.prototype, "a Response"],
  [TextEncoder.prototype, "a TextEncoder"],
  [TextDecoder.prototype, "a TextDecoder"],
  [CryptoKey.prototype, "a CryptoKey"],
]);
for (const name of ["WeakRef", "FinalizationRegistry", "SharedArrayBuffer"]) {
  const Constructor = (globalThis as Record<string, unknown>)[name];
  if (typeof Constructor === "function") NOT_CLONEABLE.set(Constructor.prototype, `a ${name}`);
}
for (const name of Object.getOwnPropertyNames(Intl)) {
  const Constructor = (Intl as Record<string, unknown>)[name] as { prototype?: unknown };
  if (typeof Constructor === "function" && typeof Constructor.prototype === "object")
    NOT_CLONEABLE.set(Constructor.prototype!, `an Intl.${name}`);
}

/** Copy `value` by the structured clone algorithm; throws a "DataCloneError" for what it cannot copy. */
export function structuredClone(value: unknown, options?: StructuredSerializeOptions): unknown {
  if (arguments.length === 0) {
    throw new NativeTypeError("structuredClone: 1 argument required, but only 0 present");
  }
  refuseTransfer(options);
  return cloneValue(value, new NativeMap());
}

function cloneValue(value: unknown, memory: Memory): unknown {
  switch (typeof value) {
    case "undefined":
    case "boolean":
    case "number":
    case "bigint":
    case "string":
      return value;
    case "symbol":
      throw notCloneable("a symbol");
    case "function":
      throw notCloneable("a function");
  }
  if (value === null) return null;
  const known = apply(mapGet, memory, [value]);
  return known !== undefined ? known : cloneObject(value as object, memory);
}

function cloneObject(object: object, memory: Memory): unknown {
  if (isView(object)) return cloneView(object, memory);
  let array: boolean;
  try {
    array = isArray(object);
  } catch {
    throw notCloneable("a revoked proxy");
  }
  if (array) return cloneArray(object as unknown[], memory);

  const tag: string = apply(objectToString, object, []);
  switch (tag) {
    case "[object Boolean]":
      return remember(memory, object, new NativeBoolean(branded(booleanValueOf, object, tag)));
    case "[object Number]":
      return remember(memory, object, new NativeNumber(branded(numberValueOf, object, tag)));
    case "[object String]":
      return remember(memory, object, new NativeString(branded(stringValueOf, object, tag)));
    case "[object BigInt]":
      return remember(memory, object, NativeObject(branded(bigintValueOf, object, tag)));
    case "[object Date]":
      return remember(memory, object, new NativeDate(branded(dateGetTime, object, tag)));
    case "[object RegExp]":
      return remember(memory, object, cloneRegExp(object, tag));
    case "[object ArrayBuffer]":
      if (!isArrayBuffer(object)) throw impostor(tag);
      return remember(memory, object, copyBuffer(object as ArrayBuffer));
    case "[object Map]":
      return cloneMap(object, memory, tag);
    case "[object Set]":
      return cloneSet(object, memory, tag);
    case "[object Error]":
      return cloneError(object, memory);
  }
  refuseKind(object);
  return copyProperties(object, remember(memory, object, {}), memory);
}

/** An array of the same length, with the same holes and the same extra properties. */
function cloneArray(array: unknown[], memory: Memory): unknown[] {
  const clone = new NativeArray();
  // As a length, not as `new Array(length)`: a proxy's `length` may be anything.
  clone.length = array.length;
  return copyProperties(array, remember(memory, array, clone), memory);
}

/** The standard's "for each key of EnumerableOwnProperties": own enumerable string keys. */
function copyProperties<T extends object>(from: object, to: T, memory: Memory): T {
  const keys = ownEnumerableKeys(from);
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i]!;
    // An earlier getter may have deleted it.
    if (!apply(hasOwnProperty, from, [key])) continue;
    const value = cloneValue((from as Record<string, unknown>)[key], memory);
    defineProperty(to, key, { value, writable: true, enumerable: true, configurable: true });
  }
  return to;
}

function cloneRegExp(regexp: object, tag: string): RegExp {
  const source: string = branded(regExpSource, regexp, tag);
  let flags = "";
  for (let i = 0; i < REGEXP_FLAGS.length; i++) {
    const [flag, read] = REGEXP_FLAGS[i]!;
    if (apply(read, regexp, [])) flags += flag;
  }
  return new NativeRegExp(source, flags);
}

function cloneMap(map: object, memory: Memory, tag: string): Map<unknown, unknown> {
  branded(mapSize, map, tag);
  const clone = remember(memory, map, new NativeMap());
  // The entries are listed first: getters run while copying may change the map.
  const entries: unknown[] = [];
  apply(mapForEach, map, [(value: unknown, key: unknown) => void entries.push(key, value)]);
  for (let i = 0; i < entries.length; i += 2) {
    const key = cloneValue(entries[i], memory);
    apply(mapSet, clone, [key, cloneValue(entries[i + 1], memory)]);
  }
  return clone;
}

function cloneSet(set: object, memory: Memory, tag: string): Set<unknown> {
  branded(setSize, set, tag);
  const clone = remember(memory, set, new NativeSet());
  const values: unknown[] = [];
  apply(setForEach, set, [(value: unknown) => void values.push(value)]);
  for (let i = 0; i < values.length; i++) apply(setAdd, clone, [cloneValue(values[i], memory)]);
  return clone;
}

/**
 * An Error as the standard copies one: its type by `name` (one of the seven, else Error), its
 * own `message`, and, as browsers also do, its `stack` and own `cause`. A DOMException stays a
 * DOMException with its name.
 */
function cloneError(error: object, memory: Memory): Error {
  const domName = domExceptionName(error);
  const name = domName ?? (error as { name?: unknown }).name;
  const messageDescriptor = getOwnPropertyDescriptor(error, "message");
  const message =
    messageDescriptor !== undefined && apply(hasOwnProperty, messageDescriptor, ["value"])
      ? `${messageDescriptor.value}`
      : undefined;
  let clone: Error;
  if (domName !== undefined) {
    clone = new DOMException(message, domName);
  } else {
    const Constructor = apply(mapGet, ERROR_TYPES, [name]) ?? NativeError;
    clone = message === undefined ? new Constructor() : new Constructor(message);
  }
  remember(memory, error, clone);

  const stack = (error as { stack?: unknown }).stack;
  if (typeof stack === "string") {
    defineProperty(clone, "stack", { value: stack, writable: true, configurable: true });
  }
  const cause = getOwnPropertyDescriptor(error, "cause");
  if (cause !== undefined && apply(hasOwnProperty, cause, ["value"])) {
    const value = cloneValue(cause.value, memory);
    defineProperty(clone, "cause", { value, writable: true, configurable: true });
  }
  return clone;
}

/** Throws for the kinds that cannot be cloned, found by the prototypes they inherit from. */
function refuseKind(object: object): void {
  for (let proto = getPrototypeOf(object); proto !== null; proto = getPrototypeOf(proto)) {
    const kind = apply(mapGet, NOT_CLONEABLE, [proto]);
    if (kind !== undefined) throw notCloneable(kind);
  }
}

/**
 * Transferring needs `ArrayBuffer.prototype.transfer` to detach the original, and the V8 of
 * Node 20 has none. The list is still read as WebIDL reads a sequence, so a bad one is a
 * TypeError, as in browsers.
 *
 * TODO: transfer ArrayBuffers once the isolates' V8 has `ArrayBuffer.prototype.transfer`
 * (Node 22's does).
 */
function refuseTransfer(options: unknown): void {
  if (options === undefined || options === null) return;
  if (typeof options !== "object" && typeof options !== "function") {
    throw new NativeTypeError("structuredClone: options must be an object");
  }
  const transfer = (options as { transfer?: unknown }).transfer;
  if (transfer === undefined) return;
  const iterate =
    transfer !== null && (typeof transfer === "object" || typeof transfer === "function")
      ? (transfer as { [Symbol.iterator]?: unknown })[Symbol.iterator]
      : undefined;
  if (typeof iterate !== "function") {
    throw new NativeTypeError("structuredClone: options.transfer must be a sequence of objects");
  }
  const iterator = apply(iterate, transfer, []);
  const next = iterator.next;
  let items = 0;
  let onlyBuffers = true;
  for (;;) {
    const step: { done?: unknown; value?: unknown } = apply(next, iterator, []);
    if (step === null || typeof step !== "object") {
      throw new NativeTypeError(
        "structuredClone: the transfer list's iterator returned a non-object",
      );
    }
    if (step.done) break;
    const item: unknown = step.value;
    if (item === null || (typeof item !== "object" && typeof item !== "function")) {
      throw new NativeTypeError("structuredClone: options.transfer must be a sequence of objects");
    }
    items++;
    onlyBuffers &&= isArrayBuffer(item);
  }
  if (items === 0) return;
  const message = onlyBuffers
    ? "structuredClone: ArrayBuffers cannot be transferred here; leave `transfer` out to copy them"
    : "structuredClone: only ArrayBuffers can be in a transfer list";
  throw new DOMException(message, "DataCloneError");
}

function branded(check: Method, object: object, tag: string): any {
  try {
    return apply(check, object, []);
  } catch {
    throw impostor(tag);
  }
}

/** For an object whose tag names a kind it does not have, such as a proxy of a Map. */
function impostor(tag: string): DOMException {
  return notCloneable(`an object tagged ${tag.slice(8, -1)} that is not one (a proxy?)`);
}

function remember<T>(memory: Memory, original: object, clone: T): T {
  apply(mapSet, memory, [original, clone]);
  return clone;
}

function protoOf(object: object): object {
  return getPrototypeOf(object) as object;
}

/** What a generator function's objects inherit from: %GeneratorPrototype% and its async twin. */
function prototypeOf(generatorFunction: object): object {
  return (protoOf(generatorFunction) as { prototype: object }).prototype;
}

function* generator(): Generator<undefined> {
  yield;
}

async function* asyncGenerator(): AsyncGenerator<undefined> {
  yield;
}
