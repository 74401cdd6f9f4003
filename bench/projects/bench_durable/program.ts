import { http_outcome, type Event } from "autokitteh";

export function handle_request(event: Event) {
  // Parse request
  const data = JSON.parse(event.data.body.text ?? "") as { name: string };

  // Process
  const result = { message: `Hello, ${data.name}!` };

  // Send response
  http_outcome({
    status_code: 200,
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(result),
  });
}
