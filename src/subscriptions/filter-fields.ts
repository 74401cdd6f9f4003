/**
 * Mistakes in how a filter reads event data that make it fail or never pass on every event,
 * so that a trigger filter with one would quietly keep every request from starting a session
 * and a subscription would wait for nothing. They are refused when the filter is deployed or
 * subscribed, saying what to write instead:
 * - a field the data cannot have: `data` has a fixed shape down to the maps whose keys come
 *   from the request (headers, query parameters, the body's JSON and form fields), so
 *   `data.mthod` or `data.url.pth` is a typo;
 * - a field that is always a string used as something else: compared with a number or a
 *   boolean (`data.url.query.id == 42`), searched with `in`, or taken for the verdict itself.
 */
import { accessPath, readsStringField, type ExprNode } from "./equality-shortcut";

/** The fields of each fixed part of `data`; the parts not named here take any key. */
const FIXED_FIELDS: Record<string, readonly string[]> = {
  data: ["method", "raw_url", "url", "headers", "body"],
  "data.url": ["path", "query", "path_suffix"],
  "data.body": ["bytes", "text", "json", "form"],
};

/** What is wrong with the first field `expr` reads that `data` cannot have, or `null`. */
export function unknownDataField(expr: ExprNode): string | null {
  return firstProblem(expr, fixedFieldProblem);
}

/** How `expr` misuses a field that is always a string, or `null`. */
export function stringFieldMisuse(expr: ExprNode): string | null {
  if (readsStringField(expr)) {
    const field = fieldText(expr);
    return `is ${field}, a string: a filter passes only when it is true (compare it: ${field} == "…")`;
  }
  return firstProblem(expr, comparisonProblem);
}

/** Whether a node reads the event (its root is `data` or `event_type`, not a macro's variable). */
type ReadsEvent = (node: ExprNode) => boolean;

/** The first problem `check` finds in a node of `expr`, or `null`. */
function firstProblem(
  expr: ExprNode,
  check: (node: ExprNode, readsEvent: ReadsEvent) => string | null,
): string | null {
  let problem: string | null = null;
  const visit = (node: ExprNode | undefined, shadowed: ReadonlySet<string>): void => {
    if (node === undefined || problem !== null) return;
    const { case: kind, value } = node.exprKind as { case: string; value: Record<string, any> };
    problem = check(node, (read) => {
      const path = accessPath(read);
      return path !== null && !shadowed.has(path.name);
    });
    switch (kind) {
      case "selectExpr":
        return visit(value.operand, shadowed);
      case "callExpr":
        visit(value.target, shadowed);
        for (const arg of value.args) visit(arg, shadowed);
        return;
      case "listExpr":
        for (const element of value.elements) visit(element, shadowed);
        return;
      case "structExpr":
        for (const entry of value.entries) {
          if (entry.keyKind?.case === "mapKey") visit(entry.keyKind.value, shadowed);
          visit(entry.value, shadowed);
        }
        return;
      case "comprehensionExpr": {
        // A macro's variables (named `data` or `event_type`, say) hide those names inside it.
        const inner = new Set([
          ...shadowed,
          ...[value.iterVar, value.iterVar2, value.accuVar].filter(Boolean),
        ]);
        visit(value.iterRange, shadowed);
        visit(value.accuInit, shadowed);
        for (const part of [value.loopCondition, value.loopStep, value.result]) visit(part, inner);
        return;
      }
    }
  };
  visit(expr, new Set());
  return problem;
}

/** `node` reads `data.a.b…` (by `.field` or `["key"]`): is each step a field there is? */
function fixedFieldProblem(node: ExprNode, readsEvent: ReadsEvent): string | null {
  const path = accessPath(node);
  if (path === null || path.name !== "data" || !readsEvent(node)) return null;
  const { keys } = path;
  let at = "data";
  for (const key of keys) {
    const fields = FIXED_FIELDS[at];
    if (fields === undefined) return null;
    if (!fields.includes(key)) {
      return `${at} has no field ${JSON.stringify(key)}; its fields are ${fields.join(", ")}`;
    }
    at = `${at}.${key}`;
  }
  return null;
}

/** `field == 42`, `field != true`, `"x" in field` on a field that is always a string. */
function comparisonProblem(node: ExprNode, readsEvent: ReadsEvent): string | null {
  const stringField = (read: ExprNode) => readsEvent(read) && readsStringField(read);
  const { case: kind, value } = node.exprKind as { case: string; value: any };
  if (kind !== "callExpr" || value.target !== undefined || value.args?.length !== 2) return null;
  const [left, right] = value.args as [ExprNode, ExprNode];
  if (value.function === "@in" && stringField(right)) {
    const field = fieldText(right);
    return `uses in on ${field}, which is a string, not a list or map (to look inside it: ${field}.contains("…"))`;
  }
  if (value.function !== "_==_" && value.function !== "_!=_") return null;
  for (const [field, other] of [
    [left, right],
    [right, left],
  ] as const) {
    const constant = nonStringConstant(other);
    if (constant !== null && stringField(field)) {
      return `compares ${fieldText(field)}, which is always a string, with ${constant}: write "${constant}"`;
    }
  }
  return null;
}

/** A number or boolean literal, as written, or `null`. */
function nonStringConstant(node: ExprNode): string | null {
  if (node.exprKind.case !== "constExpr") return null;
  const constant = (node.exprKind.value as { constantKind: { case: string; value: unknown } })
    .constantKind;
  const kinds = ["int64Value", "uint64Value", "doubleValue", "boolValue"];
  return kinds.includes(constant.case) ? String(constant.value) : null;
}

/** `data.url.query.id` for a field read by `.` or `["…"]`, as a user would write it. */
function fieldText(node: ExprNode): string {
  const path = accessPath(node)!;
  return [path.name, ...path.keys]
    .map((key, i) =>
      i === 0 || /^[A-Za-z_]\w*$/.test(key) ? `${i ? "." : ""}${key}` : `[${JSON.stringify(key)}]`,
    )
    .join("");
}
