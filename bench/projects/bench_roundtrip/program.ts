import { http_outcome, next_event, subscribe, type Event } from "autokitteh";

export async function on_first(event: Event) {
  const { id = "", notify } = event.data.url.query;
  const sub = subscribe("second", `data.url.query.id == ${JSON.stringify(id)}`);
  // The benchmark waits for this before it sends the second request.
  if (notify !== undefined)
    await fetch(`${notify}?id=${encodeURIComponent(id)}`, { method: "POST" });
  const second = await next_event(sub, { timeout: "10s" });
  http_outcome({ body: second === null ? "timeout" : `${id}:${second.body.text}` });
}
