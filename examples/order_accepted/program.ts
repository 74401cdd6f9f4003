import { http_outcome, type Event } from "autokitteh";

interface Order {
  id: string;
  items: string[];
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export async function handle_order(event: Event) {
  const order = validateOrder(event.data.body.json);

  // Send the response to the caller at once.
  http_outcome({
    status_code: 202,
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ order_id: order.id, status: "accepted" }),
  });

  // Keep processing after the response was sent.
  await processPayment(order);
  http_outcome({ body: `payment for ${order.id} processed`, more: true });

  await updateInventory(order);
  console.log(`order ${order.id} completed: ${order.items.length} item(s) shipped`);
}

function validateOrder(body: unknown): Order {
  const input = (body ?? {}) as Partial<Order>;
  const items = Array.isArray(input.items) ? input.items.map(String) : [];
  const id =
    typeof input.id === "string" && input.id !== "" ? input.id : `ord_${Date.now().toString(36)}`;
  return { id, items };
}

async function processPayment(order: Order) {
  console.log(`charging for order ${order.id}`);
  await sleep(50);
}

async function updateInventory(order: Order) {
  console.log(`reserving ${order.items.length} item(s) for order ${order.id}`);
  await sleep(50);
}
