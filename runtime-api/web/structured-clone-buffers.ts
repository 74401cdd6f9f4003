/**
 * The binary part of `structuredClone` (see structured-clone.ts): ArrayBuffers, copied whole
 * (resizable ones stay resizable, with their maximum), and the views on them, each typed array
 * or DataView made anew on the copy of its buffer, so that views sharing a buffer still share
 * one. Like the rest of the clone, it uses only methods captured when the module loads.
 *
 * No buffer here is ever detached: this V8 has no `ArrayBuffer.prototype.transfer`, and
 * nothing else in the sandbox detaches one.
 */
import { DOMException } from "./dom-exception";

/** What has been copied in one call, original to copy. */
export type Memory = Map<object, unknown>;

export type Method = (...args: any[]) => any;
type ViewConstructor = new (buffer: ArrayBuffer, byteOffset?: number, length?: number) => object;
type BufferConstructor = new (
  byteLength: number,
  options?: { maxByteLength: number },
) => ArrayBuffer;

const { apply, getPrototypeOf, getOwnPropertyDescriptor } = Reflect;
const NativeArrayBuffer = ArrayBuffer as unknown as BufferConstructor;
const NativeUint8Array = Uint8Array;
const NativeDataView = DataView as unknown as ViewConstructor;
const mapGet = Map.prototype.get;
const mapSet = Map.prototype.set;
const bufferByteLength = getter(ArrayBuffer.prototype, "byteLength");
// Resizable buffers are in V8 since 11.1; the guard is for a V8 without them.
const bufferResizable = optionalGetter(ArrayBuffer.prototype, "resizable");
const bufferMaxByteLength = optionalGetter(ArrayBuffer.prototype, "maxByteLength");
const bufferResize = (ArrayBuffer.prototype as { resize?: Method }).resize;
const TypedArrayPrototype = getPrototypeOf(Uint8Array.prototype) as object;
const typedArrayName = getter(TypedArrayPrototype, Symbol.toStringTag);
const typedArrayBuffer = getter(TypedArrayPrototype, "buffer");
const typedArrayByteOffset = getter(TypedArrayPrototype, "byteOffset");
const typedArrayByteLength = getter(TypedArrayPrototype, "byteLength");
const typedArrayLength = getter(TypedArrayPrototype, "length");
const typedArrayKeys = (TypedArrayPrototype as { keys: Method }).keys;
const typedArraySet = (TypedArrayPrototype as { set: Method }).set;
const dataViewBuffer = getter(DataView.prototype, "buffer");
const dataViewByteOffset = getter(DataView.prototype, "byteOffset");
const dataViewByteLength = getter(DataView.prototype, "byteLength");

/** Each typed array constructor by its name, with its element size. */
const TYPED_ARRAYS = new Map<string, [ViewConstructor, number]>();
for (const Constructor of [
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
  (globalThis as { Float16Array?: typeof Float32Array }).Float16Array,
]) {
  if (Constructor !== undefined)
    TYPED_ARRAYS.set(Constructor.name, [Constructor, Constructor.BYTES_PER_ELEMENT]);
}

export function isArrayBuffer(value: unknown): boolean {
  try {
    apply(bufferByteLength, value, []);
    return true;
  } catch {
    return false;
  }
}

/** A copy of a whole buffer, resizable with the same maximum if the original is. */
export function copyBuffer(buffer: ArrayBuffer): ArrayBuffer {
  const byteLength: number = apply(bufferByteLength, buffer, []);
  const copy = isResizable(buffer)
    ? new NativeArrayBuffer(byteLength, { maxByteLength: apply(bufferMaxByteLength!, buffer, []) })
    : new NativeArrayBuffer(byteLength);
  apply(typedArraySet, new NativeUint8Array(copy), [new NativeUint8Array(buffer)]);
  return copy;
}

/** A typed array or DataView on the copy of its buffer, the same kind at the same place. */
export function cloneView(view: object, memory: Memory): object {
  const name: string | undefined = apply(typedArrayName, view, []);
  const isDataView = name === undefined;
  const buffer: ArrayBuffer = apply(isDataView ? dataViewBuffer : typedArrayBuffer, view, []);
  if (!isArrayBuffer(buffer)) throw notCloneable("a view of a SharedArrayBuffer");
  const [Constructor, elementSize] = isDataView
    ? [NativeDataView, 1]
    : (apply(mapGet, TYPED_ARRAYS, [name]) as [ViewConstructor, number]);

  const resizable = isResizable(buffer);
  const byteLength = resizable
    ? boundsOf(view, isDataView)
    : (apply(isDataView ? dataViewByteLength : typedArrayByteLength, view, []) as number);
  if (byteLength === undefined) throw notCloneable("a view out of its buffer's bounds");
  const byteOffset: number = apply(
    isDataView ? dataViewByteOffset : typedArrayByteOffset,
    view,
    [],
  );
  const length: number = isDataView ? byteLength : apply(typedArrayLength, view, []);
  const tracking =
    resizable && tracksLength(view, isDataView, buffer, elementSize, byteOffset + byteLength);

  let copy = apply(mapGet, memory, [buffer]) as ArrayBuffer | undefined;
  if (copy === undefined) {
    copy = copyBuffer(buffer);
    apply(mapSet, memory, [buffer, copy]);
  }
  const clone = tracking
    ? new Constructor(copy, byteOffset)
    : new Constructor(copy, byteOffset, length);
  apply(mapSet, memory, [view, clone]);
  return clone;
}

/** A view's byte length, or `undefined` when its (resizable) buffer shrank below it. */
function boundsOf(view: object, isDataView: boolean): number | undefined {
  try {
    if (isDataView) return apply(dataViewByteLength, view, []);
    apply(typedArrayKeys, view, []);
    return apply(typedArrayByteLength, view, []);
  } catch {
    return undefined;
  }
}

/**
 * Whether a view of a resizable buffer follows the buffer's length (it was made without one).
 * No getter tells, so the buffer is grown by one element to see whether the view grows with
 * it; at its maximum, it is shrunk by one element (its last bytes kept aside) to see whether
 * the view stays in bounds. Either way it ends as it was, and no other code runs meanwhile.
 */
function tracksLength(
  view: object,
  isDataView: boolean,
  buffer: ArrayBuffer,
  elementSize: number,
  viewEnd: number,
): boolean {
  const size: number = apply(bufferByteLength, buffer, []);
  // A view that stops short of the buffer's last element has a length of its own.
  if (viewEnd + elementSize <= size) return false;
  const resize = (byteLength: number) => apply(bufferResize!, buffer, [byteLength]);
  if (size + elementSize <= apply(bufferMaxByteLength!, buffer, [])) {
    const before = boundsOf(view, isDataView);
    resize(size + elementSize);
    const after = boundsOf(view, isDataView);
    resize(size);
    return after !== before;
  }
  if (size < elementSize) return false;
  const tail = new NativeUint8Array(elementSize);
  apply(typedArraySet, tail, [new NativeUint8Array(buffer, size - elementSize, elementSize)]);
  resize(size - elementSize);
  const stillInBounds = boundsOf(view, isDataView) !== undefined;
  resize(size);
  apply(typedArraySet, new NativeUint8Array(buffer), [tail, size - elementSize]);
  return stillInBounds;
}

function isResizable(buffer: ArrayBuffer): boolean {
  return bufferResizable !== undefined && apply(bufferResizable, buffer, []) === true;
}

/** The "DataCloneError" for `what`, a value of a kind that cannot be cloned. */
export function notCloneable(what: string): DOMException {
  return new DOMException(`structuredClone: ${what} cannot be cloned`, "DataCloneError");
}

/** The getter of a property, captured now; throws if there is none. */
export function getter(target: object, name: PropertyKey): Method {
  const read = optionalGetter(target, name);
  if (read === undefined) throw new Error(`isohook: no getter ${String(name)} to capture`);
  return read;
}

function optionalGetter(target: object, name: PropertyKey): Method | undefined {
  return getOwnPropertyDescriptor(target, name)?.get;
}
