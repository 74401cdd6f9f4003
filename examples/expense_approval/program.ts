import { getenv, next_event, subscribe, type Event } from "autokitteh";

interface Expense {
  id: string;
  what: string;
  amount: number;
}

export async function on_submit(event: Event) {
  const expense = parseExpense(event.data.body.json);
  if (expense === null) {
    console.error('send {"id": "...", "what": "...", "amount": 12.5}');
    return { error: "not an expense" };
  }
  // A durable session reads the same time again when it is replayed after a restart.
  const submitted = new Date();
  const decisions = subscribe(
    "decide",
    `data.url.path_suffix in ["approve", "reject"] && data.url.query.expense == ${JSON.stringify(expense.id)}`,
  );
  const base = getenv("decide__webhook_url");
  const query = `expense=${encodeURIComponent(expense.id)}`;
  console.log(
    `expense ${expense.id}: ${expense.what}, ${expense.amount}, at ${submitted.toISOString()}`,
  );
  console.log(`  approve: curl -X POST -H 'X-User: ann' '${base}/approve?${query}'`);
  console.log(`  reject:  curl -X POST -H 'X-User: ann' '${base}/reject?${query}'`);

  for (let reminders = 1; ; reminders++) {
    const decision = await next_event(decisions, { timeout: getenv("REMINDER") ?? "10m" });
    if (decision === null) {
      console.log(`reminder ${reminders}: expense ${expense.id} still waits for a decision`);
      continue;
    }
    const verdict = decision.url.path_suffix === "approve" ? "approved" : "rejected";
    const by = decision.headers["x-user"] ?? "someone";
    const waitedSeconds = Math.round((Date.now() - submitted.getTime()) / 1000);
    console.log(`expense ${expense.id} ${verdict} by ${by} after ${waitedSeconds} s`);
    return { id: expense.id, verdict, by };
  }
}

function parseExpense(body: unknown): Expense | null {
  if (typeof body !== "object" || body === null) return null;
  const { id, what, amount } = body as Record<string, unknown>;
  if (typeof id !== "string" || id === "" || typeof what !== "string") return null;
  if (typeof amount !== "number" || !Number.isFinite(amount)) return null;
  return { id, what, amount };
}
