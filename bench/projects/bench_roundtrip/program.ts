import { http_outcome, next_event, subscribe, type Event } from "autokitteh";

export async function on_first(event: Event) {
  const id = event.data.url.query.id ?? "";
  const sub = subscribe("second", `data.url.query.id == ${JSON.stringify(id)}`);
  const second = await next_event(sub, { timeout: "10s" });
  http_outcome({ body: second === null ? "timeout" : `${id}:${second.body.text}` });
}
