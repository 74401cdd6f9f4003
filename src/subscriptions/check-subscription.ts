/**
 * Checking `subscribe(source, filter)`, in the sandbox process, which answers the session at
 * once: the id it gets, or the mistake it made. The server's hub (`subscription-hub.ts`) then
 * registers what was accepted.
 */
import { newId } from "../ids";
import type { EqualityTerm } from "./equality-shortcut";
import { checkFilter } from "./filter";

/** A user's mistake in subscribe or next_event, reported in their session. */
export class SubscriptionError extends Error {}

/**
 * A new subscription's id, if `subscribe(source, filter)` is valid for the project: `source`
 * one of its triggers, `filter` a CEL expression that compiles (with its equality terms, for
 * the hub). Throws a `SubscriptionError` saying what is wrong otherwise.
 */
export function checkSubscription(
  project: string,
  triggers: readonly string[],
  source: string,
  filterText: string | null,
): { id: string; terms: EqualityTerm[] | null } {
  if (!triggers.includes(source)) {
    throw new SubscriptionError(
      `subscribe: ${JSON.stringify(source)} is not a trigger of project ${project}; ` +
        `its triggers are ${triggers.map((t) => JSON.stringify(t)).join(", ")}`,
    );
  }
  let terms: EqualityTerm[] | null = null;
  if (filterText !== null) {
    try {
      terms = checkFilter(filterText);
    } catch (error) {
      throw new SubscriptionError(`subscribe: ${(error as Error).message}`);
    }
  }
  return { id: newId("sub"), terms };
}
