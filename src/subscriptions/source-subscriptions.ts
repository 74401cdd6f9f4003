/**
 * The subscriptions to one trigger, sorted for each event into those it passes and those whose
 * filter CEL must decide, without looking at every subscription.
 *
 * The usual filter waits for one thing (`data.url.query.id == "42"`): its equality terms come
 * with the subscription (`checkFilter`), and it is indexed by its first term's field and value.
 * An event then reads that field once, and only the subscriptions waiting for the value it
 * holds are checked further; the others' first term is false, so CEL would say false. A
 * thousand sessions each waiting for its own id cost an event what one does (an event lacking
 * the field is checked against all of them: CEL has an error to word for each).
 *
 * Decided here means decided as CEL would (see equality-shortcut.ts); whatever is not decided
 * (a filter that is not only equalities, or a field the event lacks, where CEL words an error)
 * goes to the filter worker, as before.
 */
import { decideEqualities, readField, type EqualityTerm } from "./equality-shortcut";
import type { FilterEvent } from "./filter";

export interface Subscriber {
  /** When it subscribed, server-wide: an event goes to the subscriptions it passes in this order. */
  order: number;
  /** The filter's CEL source; `null`: every event passes. */
  filter: string | null;
  /** The filter's equality terms, when that is all it is. */
  terms: readonly EqualityTerm[] | null;
}

/** The subscriptions with the same first field, by the value that field must hold. */
interface FieldIndex<T> {
  term: EqualityTerm;
  byValue: Map<string, Set<T>>;
}

export class SourceSubscriptions<T extends Subscriber> {
  /** No filter, or one CEL decides. */
  readonly #unindexed = new Set<T>();
  /** Keyed by the first term's field (its path, as JSON). */
  readonly #byField = new Map<string, FieldIndex<T>>();
  #size = 0;

  get size(): number {
    return this.#size;
  }

  add(subscription: T): void {
    this.#size++;
    const first = subscription.terms?.[0];
    if (first === undefined) return void this.#unindexed.add(subscription);
    const key = JSON.stringify(first.path);
    let field = this.#byField.get(key);
    if (field === undefined) this.#byField.set(key, (field = { term: first, byValue: new Map() }));
    let same = field.byValue.get(first.value);
    if (same === undefined) field.byValue.set(first.value, (same = new Set()));
    same.add(subscription);
  }

  delete(subscription: T): void {
    const first = subscription.terms?.[0];
    if (first === undefined) {
      if (this.#unindexed.delete(subscription)) this.#size--;
      return;
    }
    const key = JSON.stringify(first.path);
    const field = this.#byField.get(key);
    const same = field?.byValue.get(first.value);
    if (same === undefined || !same.delete(subscription)) return;
    this.#size--;
    if (same.size === 0) field!.byValue.delete(first.value);
    if (field!.byValue.size === 0) this.#byField.delete(key);
  }

  /** Those `event` passes, and those CEL must decide; each in the order they subscribed. */
  match(event: FilterEvent): { passed: T[]; undecided: T[] } {
    const passed: T[] = [];
    const undecided: T[] = [];
    const check = (subscription: T) => {
      const verdict = decideEqualities(subscription.terms!, event);
      if (verdict === true) passed.push(subscription);
      else if (verdict === undefined) undecided.push(subscription);
    };
    for (const subscription of this.#unindexed)
      (subscription.filter === null ? passed : undecided).push(subscription);
    for (const { term, byValue } of this.#byField.values()) {
      const value = readField(event, term.path);
      if (value !== undefined) byValue.get(value)?.forEach(check);
      // The field is missing: another term may still be false; if none is, CEL says why not.
      else for (const same of byValue.values()) same.forEach(check);
    }
    const bySubscribing = (a: T, b: T) => a.order - b.order;
    return { passed: passed.sort(bySubscribing), undecided: undecided.sort(bySubscribing) };
  }
}
