import { getenv, http_outcome, next_event, subscribe, type Event } from "autokitteh";

interface ApprovalRequest {
  id: string;
  what: string;
}

export async function on_request(event: Event) {
  const request = parseRequest(event.data.body.json);
  if (request === null) {
    http_outcome({ status_code: 400, json: { error: 'send {"id": "...", "what": "..."}' } });
    return;
  }

  // Only decisions about this request: .../approve?request=<id> or .../reject?request=<id>.
  const decisions = subscribe(
    "decide",
    `data.url.path_suffix in ["approve", "reject"] && data.url.query.request == ${JSON.stringify(request.id)}`,
  );
  const base = getenv("decide__webhook_url");
  console.log(`approval needed for ${request.what}:`);
  console.log(
    `  approve: curl -X POST '${base}/approve?request=${encodeURIComponent(request.id)}'`,
  );
  console.log(`  reject:  curl -X POST '${base}/reject?request=${encodeURIComponent(request.id)}'`);

  const decision = await next_event(decisions, { timeout: getenv("WAIT_TIMEOUT") ?? "2m" });
  if (decision === null) {
    http_outcome({ status_code: 408, json: { id: request.id, status: "no decision in time" } });
  } else if (decision.url.path_suffix === "approve") {
    http_outcome({
      status_code: 200,
      json: { id: request.id, status: "approved", by: decision.headers["x-user"] ?? null },
    });
  } else {
    http_outcome({
      status_code: 403,
      json: { id: request.id, status: "rejected", by: decision.headers["x-user"] ?? null },
    });
  }
}

function parseRequest(body: unknown): ApprovalRequest | null {
  if (typeof body !== "object" || body === null) return null;
  const { id, what } = body as Record<string, unknown>;
  if (typeof id !== "string" || id === "" || typeof what !== "string") return null;
  return { id, what };
}
