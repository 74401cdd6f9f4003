/**
 * `Date` as sessions see it: the real one, except that in a durable session `Date.now()`,
 * `new Date()` and `Date()` read the session's clock, the time its current entry was delivered
 * (see `clock_ms` in sandbox/protocol.ts), so that replaying the session reads the same times.
 */
import type { SessionRegistry } from "./sessions";

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
