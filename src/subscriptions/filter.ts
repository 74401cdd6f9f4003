/**
 * Event filters: CEL expressions over `data` (the event's data, as `next_event` returns it)
 * and `event_type` (the lower-case method), as AutoKitteh uses them. An event passes only when
 * the filter is exactly `true`; an evaluation error (a missing key, say) means it does not.
 *
 * CEL itself is `@bufbuild/cel`. Here: compiling with clear errors (a syntax error, or a name
 * other than `data` and `event_type`), and turning event data into CEL values.
 */
import { celEnv, isCelError, parse, plan } from "@bufbuild/cel";
import type { WireEventData } from "../../sandbox";

export type EventFilter = (input: FilterInput) => boolean;

/** Event data converted for CEL once, and shared by every filter that looks at the event. */
export interface FilterInput {
  data: Map<string, unknown>;
  event_type: string;
}

export class FilterError extends Error {}

const VARIABLES = new Set(["data", "event_type"]);
const env = celEnv();

export function compileFilter(source: string): EventFilter {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(source);
  } catch (error) {
    throw new FilterError(
      `filter ${JSON.stringify(source)} does not compile: ${(error as Error).message.replace(/^<input>:/, "")}`,
    );
  }
  const unknown = freeNames(parsed.expr).filter((name) => !VARIABLES.has(name));
  if (unknown.length > 0) {
    throw new FilterError(
      `filter ${JSON.stringify(source)} uses ${unknown.map((n) => JSON.stringify(n)).join(", ")}; filters can use data and event_type`,
    );
  }
  const evaluate = plan(env, parsed);
  return (input) => {
    const result = evaluate(input as never);
    return !isCelError(result) && result === true;
  };
}

/** The event as CEL sees it: objects as maps, JSON numbers as doubles, the body's bytes as bytes. */
export function filterInput(data: WireEventData, eventType: string): FilterInput {
  const { body } = data;
  let json: unknown = null;
  if (body.text !== null) {
    try {
      json = JSON.parse(body.text);
    } catch {
      json = null;
    }
  }
  const converted = toCel({ ...data, body: { text: body.text, json, form: body.form } }) as Map<
    string,
    unknown
  >;
  (converted.get("body") as Map<string, unknown>).set("bytes", body.bytes);
  return { data: converted, event_type: eventType };
}

function toCel(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(toCel);
  if (value !== null && typeof value === "object" && !(value instanceof Uint8Array)) {
    return new Map(Object.entries(value).map(([k, v]) => [k, toCel(v)]));
  }
  return value;
}

interface ExprNode {
  exprKind: { case: string | undefined; value?: unknown };
}

/** Identifiers the expression reads that no comprehension (`all`, `exists`, `map`…) binds. */
function freeNames(root: ExprNode): string[] {
  const found = new Set<string>();
  const visit = (node: ExprNode | undefined, bound: ReadonlySet<string>): void => {
    if (node === undefined) return;
    const { case: kind, value } = node.exprKind as { case: string; value: Record<string, any> };
    switch (kind) {
      case "identExpr":
        if (!bound.has(value.name)) found.add(value.name);
        break;
      case "selectExpr":
        visit(value.operand, bound);
        break;
      case "callExpr":
        visit(value.target, bound);
        for (const arg of value.args) visit(arg, bound);
        break;
      case "listExpr":
        for (const element of value.elements) visit(element, bound);
        break;
      case "structExpr":
        for (const entry of value.entries) {
          if (entry.keyKind?.case === "mapKey") visit(entry.keyKind.value, bound);
          visit(entry.value, bound);
        }
        break;
      case "comprehensionExpr": {
        visit(value.iterRange, bound);
        visit(value.accuInit, bound);
        const inner = new Set(
          [...bound, value.iterVar, value.iterVar2, value.accuVar].filter(Boolean),
        );
        visit(value.loopCondition, inner);
        visit(value.loopStep, inner);
        visit(value.result, inner);
        break;
      }
    }
  };
  visit(root, new Set());
  return [...found];
}
