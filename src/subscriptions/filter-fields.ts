/**
 * Fields a filter reads that the event data cannot have. `data` has a fixed shape down to the
 * maps whose keys come from the request (headers, query parameters, the body's JSON and form
 * fields): `data.mthod` or `data.url.pth` would fail on every event, and a trigger filter
 * with such a typo would quietly keep every request from starting a session. So they are
 * refused when the filter is deployed or subscribed, with the fields there are.
 */
import { accessPath, type ExprNode } from "./equality-shortcut";

/** The fields of each fixed part of `data`; the parts not named here take any key. */
const FIXED_FIELDS: Record<string, readonly string[]> = {
  data: ["method", "raw_url", "url", "headers", "body"],
  "data.url": ["path", "query", "path_suffix"],
  "data.body": ["bytes", "text", "json", "form"],
};

/** What is wrong with the first field `expr` reads that `data` cannot have, or `null`. */
export function unknownDataField(expr: ExprNode): string | null {
  let problem: string | null = null;
  const visit = (node: ExprNode | undefined, dataShadowed: boolean): void => {
    if (node === undefined || problem !== null) return;
    const { case: kind, value } = node.exprKind as { case: string; value: Record<string, any> };
    if (!dataShadowed) problem = fixedFieldProblem(node);
    switch (kind) {
      case "selectExpr":
        return visit(value.operand, dataShadowed);
      case "callExpr":
        visit(value.target, dataShadowed);
        for (const arg of value.args) visit(arg, dataShadowed);
        return;
      case "listExpr":
        for (const element of value.elements) visit(element, dataShadowed);
        return;
      case "structExpr":
        for (const entry of value.entries) {
          if (entry.keyKind?.case === "mapKey") visit(entry.keyKind.value, dataShadowed);
          visit(entry.value, dataShadowed);
        }
        return;
      case "comprehensionExpr": {
        // A macro's variable named `data` hides the event's inside the macro.
        const hides = [value.iterVar, value.iterVar2, value.accuVar].includes("data");
        visit(value.iterRange, dataShadowed);
        visit(value.accuInit, dataShadowed);
        for (const part of [value.loopCondition, value.loopStep, value.result])
          visit(part, dataShadowed || hides);
        return;
      }
    }
  };
  visit(expr, false);
  return problem;
}

/** `node` reads `data.a.b…` (by `.field` or `["key"]`): is each step a field there is? */
function fixedFieldProblem(node: ExprNode): string | null {
  const path = accessPath(node);
  if (path === null || path.name !== "data") return null;
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
