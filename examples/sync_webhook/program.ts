import { getenv, http_outcome, next_event, subscribe, type Event } from "autokitteh";

export async function on_first(_event: Event) {
  console.log("First webhook triggered, waiting for second...");

  // Subscribe to second webhook
  const sub = subscribe("second");

  // Wait up to 1 minute
  const second = await next_event(sub, { timeout: getenv("WAIT_TIMEOUT") ?? "1m" });

  if (second) {
    // Send response with data from second webhook
    http_outcome({ status_code: 200, body: `Got second webhook: ${second.body.text}` });
  } else {
    // Timeout
    http_outcome({ status_code: 408, body: "Timeout waiting for second webhook" });
  }
}
