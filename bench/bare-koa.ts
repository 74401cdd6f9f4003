/**
 * The baseline: a bare Koa server doing the reference's basic job (POST {"name": "Alice"} →
 * {"message":"Hello, Alice!"}), reading the body and parsing it as isohook's handler does.
 * Prints its port on stdout.
 */
import Koa from "koa";
import getRawBody from "raw-body";

const app = new Koa();
app.use(async (ctx) => {
  const body = await getRawBody(ctx.req, { limit: 10 * 1024 * 1024 });
  const data = JSON.parse(body.toString("utf8")) as { name: string };
  ctx.set("Content-Type", "application/json");
  ctx.body = JSON.stringify({ message: `Hello, ${data.name}!` });
});
const server = app.listen(0, "127.0.0.1", () => {
  const address = server.address();
  process.stdout.write(`${typeof address === "object" && address ? address.port : 0}\n`);
});
