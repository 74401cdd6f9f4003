/**
 * The usual filter, answered without CEL: string equalities on the request's head, alone or
 * joined with `&&`, as in `data.url.query.id == "42"` (the way a session waits for the event
 * about its own thing). With many sessions waiting, every event is checked against each of
 * their filters, so this check is most of what an event costs; reading one field and
 * comparing it takes a fraction of a microsecond, against a few for a CEL evaluation plus the
 * event's conversion to CEL values.
 *
 * The shortcut only ever gives CEL's own answer: it decides when every field it reads is
 * there (each is then a string, and `==` on strings is plain equality), or when one term is
 * false (CEL's `&&` is false then, whatever the other side); otherwise, a header or query
 * parameter missing, it does not decide, and CEL evaluates the filter (and words the error).
 */
import type { FilterEvent } from "./filter";

/** The parsed expression, as much of `@bufbuild/cel`'s tree as is read here. */
export interface ExprNode {
  exprKind: { case: string | undefined; value?: unknown };
}

/** Where a term's value is: `event_type`, or a field of the request's head under `data`. */
export type FieldPath = { root: "event_type" } | { root: "data"; keys: string[] };

/**
 * One `field == "value"` of a filter. Plain data: the sandbox process, which parses a filter
 * when it accepts a subscription, hands its terms to the server with it.
 */
export interface EqualityTerm {
  path: FieldPath;
  value: string;
}

/** The fields of `data` that always hold a string, and the maps whose entries are strings. */
const STRING_FIELDS = [["method"], ["raw_url"], ["url", "path"], ["url", "path_suffix"]];
const STRING_MAPS = [["url", "query"], ["headers"]];

/** The terms of a filter made only of string equalities and `&&`, or `null` for any other. */
export function equalityTerms(expr: ExprNode): EqualityTerm[] | null {
  const terms: EqualityTerm[] = [];
  return collectTerms(expr, terms) ? terms : null;
}

/** True or false as CEL would answer the terms' filter, or `undefined` when CEL must be asked. */
export function decideEqualities(
  terms: readonly EqualityTerm[],
  event: FilterEvent,
): boolean | undefined {
  let undecided = false;
  for (const term of terms) {
    const actual = readField(event, term.path);
    if (actual === undefined) undecided = true;
    else if (actual !== term.value) return false;
  }
  return undecided ? undefined : true;
}

function collectTerms(expr: ExprNode, terms: EqualityTerm[]): boolean {
  const call = asCall(expr);
  if (call === null || call.args.length !== 2) return false;
  const [left, right] = call.args as [ExprNode, ExprNode];
  if (call.function === "_&&_") return collectTerms(left, terms) && collectTerms(right, terms);
  if (call.function !== "_==_") return false;
  const leftText = stringConstant(left);
  const rightText = stringConstant(right);
  const path = fieldPath(leftText === null ? left : right);
  const value = leftText ?? rightText;
  if (path === null || value === null || (leftText !== null && rightText !== null)) return false;
  terms.push({ path, value });
  return true;
}

/**
 * A name and the chain of `.field` and `["key"]` read from it (`data.url["path"]`: `data`,
 * `url`, `path`), or `null` for any other expression. `tested`: the last step is a `has()`.
 */
export function accessPath(
  expr: ExprNode,
): { name: string; keys: string[]; tested: boolean } | null {
  const keys: string[] = [];
  let tested = false;
  let node = expr;
  for (;;) {
    const { case: kind, value } = node.exprKind;
    if (kind === "identExpr") return { name: (value as { name: string }).name, keys, tested };
    if (kind === "selectExpr") {
      const select = value as { operand: ExprNode; field: string; testOnly: boolean };
      tested ||= select.testOnly;
      keys.unshift(select.field);
      node = select.operand;
      continue;
    }
    const call = asCall(node);
    if (call === null || call.function !== "_[_]" || call.args.length !== 2) return null;
    const key = stringConstant(call.args[1] as ExprNode);
    if (key === null) return null;
    keys.unshift(key);
    node = call.args[0] as ExprNode;
  }
}

/** Whether `expr` reads a field that is always a string: `event_type`, `data.method`, a header… */
export function readsStringField(expr: ExprNode): boolean {
  return fieldPath(expr) !== null;
}

/** `event_type`, or a chain of `.field` and `["key"]` from `data` to a string. */
function fieldPath(expr: ExprNode): FieldPath | null {
  const path = accessPath(expr);
  if (path === null || path.tested) return null;
  const { name, keys } = path;
  if (name === "event_type" && keys.length === 0) return { root: "event_type" };
  if (name !== "data") return null;
  const map = keys.slice(0, -1);
  const known =
    STRING_FIELDS.some((field) => samePath(field, keys)) ||
    STRING_MAPS.some((entries) => samePath(entries, map));
  return known ? { root: "data", keys } : null;
}

function samePath(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((key, i) => key === b[i]);
}

/** The field's string, or `undefined` when it is not there (a header the request lacks). */
export function readField(event: FilterEvent, path: FieldPath): string | undefined {
  if (path.root === "event_type") return event.eventType;
  let value: unknown = event.head;
  for (const key of path.keys) {
    if (value === null || typeof value !== "object" || !Object.hasOwn(value, key)) {
      return undefined;
    }
    value = (value as Record<string, unknown>)[key];
  }
  return typeof value === "string" ? value : undefined;
}

function asCall(expr: ExprNode): { function: string; args: unknown[]; target?: unknown } | null {
  if (expr.exprKind.case !== "callExpr") return null;
  const call = expr.exprKind.value as { function: string; args: unknown[]; target?: unknown };
  // A method call (`x.f(y)`) has a target: never one of the operators read here.
  return call.target === undefined ? call : null;
}

function stringConstant(expr: ExprNode): string | null {
  if (expr.exprKind.case !== "constExpr") return null;
  const constant = (expr.exprKind.value as { constantKind: { case: string; value: unknown } })
    .constantKind;
  return constant.case === "stringValue" ? (constant.value as string) : null;
}
