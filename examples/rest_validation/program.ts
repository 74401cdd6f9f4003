import { http_outcome, type Event } from "autokitteh";
import { createUser } from "./users";

const JSON_HEADERS = { "Content-Type": "application/json" };

export function api_create_user(event: Event) {
  let data: { email?: unknown; name?: unknown };
  try {
    data = JSON.parse(event.data.body.text ?? "");
  } catch {
    http_outcome({
      status_code: 400,
      headers: JSON_HEADERS,
      body: JSON.stringify({ error: "Invalid JSON" }),
    });
    return;
  }

  try {
    if (typeof data !== "object" || data === null || !data.email || !data.name) {
      http_outcome({
        status_code: 400,
        headers: JSON_HEADERS,
        body: JSON.stringify({ error: "Missing required fields" }),
      });
      return;
    }

    const user = createUser(String(data.email), String(data.name));

    http_outcome({
      status_code: 201,
      headers: { ...JSON_HEADERS, Location: `/api/users/${user.id}` },
      body: JSON.stringify({ id: user.id, email: user.email, name: user.name }),
    });
  } catch (error) {
    console.error("creating the user failed:", error);
    http_outcome({
      status_code: 500,
      headers: JSON_HEADERS,
      body: JSON.stringify({ error: "Internal server error" }),
    });
  }
}
