import { getenv, http_outcome, type Event } from "autokitteh";
import { verifySignature } from "./signature";

export async function on_github(event: Event) {
  const { headers, body } = event.data;
  const valid = await verifySignature(
    getenv("WEBHOOK_SECRET") ?? "",
    body.bytes,
    headers["x-hub-signature-256"] ?? "",
  );
  if (!valid) {
    http_outcome({ status_code: 401, body: "Invalid signature" });
    return;
  }

  const kind = headers["x-github-event"] ?? "unknown";
  const payload = body.json as {
    zen?: string;
    action?: string;
    repository?: { full_name?: string };
  } | null;
  if (kind === "ping") {
    console.log(`ping from GitHub: ${payload?.zen ?? ""}`);
    http_outcome({ json: { pong: true } });
    return;
  }

  console.log(
    `${kind}${payload?.action ? ` (${payload.action})` : ""} on ${payload?.repository?.full_name ?? "?"}`,
  );
  http_outcome({ json: { received: kind, delivery: headers["x-github-delivery"] ?? null } });
}
