/**
 * The clock as sessions see it. A durable session's clock is the time its current entry was
 * delivered (see `clock_ms` in sandbox/protocol.ts), so that replaying it reads the same
 * times; everything in the language that reads the time without being given one reads that:
 * `Date.now()`, `new Date()`, `Date()`, and `Intl.DateTimeFormat`'s `format()` without a date.
 */
import type { SessionRegistry } from "./sessions";

/** `Date`: the real one, reading the session's clock where it reads the time. */
export function createDate(registry: SessionRegistry): DateConstructor {
  const NativeDate = Date;
  const nativeNow = Date.now;
  const reflectConstruct = Reflect.construct;
  const clock = (): number | null => registry.currentOrNull()?.clock ?? null;

  const SessionDate = function Date(...args: unknown[]): unknown {
    const now = clock();
    if (new.target === undefined) {
      return now === null ? NativeDate() : new NativeDate(now).toString();
    }
    const useClock = args.length === 0 && now !== null;
    return reflectConstruct(NativeDate, useClock ? [now] : args, new.target);
  } as unknown as DateConstructor;

  const method = (value: unknown) => ({ value, writable: true, configurable: true });
  Object.defineProperties(SessionDate, {
    // Set, not left to the function's own: the bundler may rename it.
    name: { value: "Date" },
    length: { value: 7 },
    // Dates made through either constructor share the one prototype, so `instanceof` and
    // subclasses work as they do with the real `Date`.
    prototype: { value: NativeDate.prototype, writable: false },
    now: method(function now(): number {
      return clock() ?? nativeNow();
    }),
    parse: method(NativeDate.parse),
    UTC: method(NativeDate.UTC),
  });
  return SessionDate;
}

/**
 * `Intl` as sessions see it: the real one, except that `DateTimeFormat`'s `format()` and
 * `formatToParts()` called without a date format the session's clock, as `new Date()` reads
 * it (in a durable session; in others, the real clock as before).
 */
export function createIntl(registry: SessionRegistry): typeof Intl {
  const NativeFormat = Intl.DateTimeFormat;
  const nativeProto = NativeFormat.prototype;
  const formatGetter = Object.getOwnPropertyDescriptor(nativeProto, "format")!.get!;
  const nativeFormatToParts = nativeProto.formatToParts;
  const reflectApply = Reflect.apply;
  const reflectConstruct = Reflect.construct;
  const weakGet = WeakMap.prototype.get;
  const weakSet = WeakMap.prototype.set;
  /** Each formatter's `format`, made once, as the real one is. */
  const bound = new WeakMap<object, (date?: Date | number) => string>();
  const orNow = (date: unknown): unknown => {
    if (date !== undefined) return date;
    return registry.currentOrNull()?.clock ?? undefined;
  };

  // TODO: the native prototype stays reachable (`Object.getPrototypeOf` of this one) and its
  // `format` reads the real clock: code that goes there on purpose can tell a replay from the
  // first run. A prototype of our own with every method delegating would close it.
  const proto = Object.create(nativeProto, {
    format: {
      get(this: Intl.DateTimeFormat) {
        let format = reflectApply(weakGet, bound, [this]) as
          ((date?: Date | number) => string) | undefined;
        if (format === undefined) {
          const native = reflectApply(formatGetter, this, []) as (date?: unknown) => string;
          format = (date?: Date | number) => native(orNow(date));
          reflectApply(weakSet, bound, [this, format]);
        }
        return format;
      },
      configurable: true,
    },
    formatToParts: {
      value: function formatToParts(this: Intl.DateTimeFormat, date?: Date | number) {
        return reflectApply(nativeFormatToParts, this, [orNow(date)]);
      },
      writable: true,
      configurable: true,
    },
  }) as Intl.DateTimeFormat;

  const DateTimeFormat = function DateTimeFormat(locales?: unknown, options?: unknown) {
    return reflectConstruct(NativeFormat, [locales, options], new.target ?? DateTimeFormat);
  } as unknown as typeof Intl.DateTimeFormat;
  Object.defineProperties(DateTimeFormat, {
    name: { value: "DateTimeFormat" },
    length: { value: 0 },
    prototype: { value: proto, writable: false },
    supportedLocalesOf: {
      value: NativeFormat.supportedLocalesOf,
      writable: true,
      configurable: true,
    },
  });
  Object.defineProperty(proto, "constructor", {
    value: DateTimeFormat,
    writable: true,
    configurable: true,
  });

  const intl = Object.create(
    Object.getPrototypeOf(Intl) as object,
    Object.getOwnPropertyDescriptors(Intl),
  ) as typeof Intl;
  Object.defineProperty(intl, "DateTimeFormat", {
    value: DateTimeFormat,
    writable: true,
    configurable: true,
  });
  return intl;
}
