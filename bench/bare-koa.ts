/**
 * The baseline: a bare Koa server doing the reference's basic job (POST {"name": "Alice"} →
 * {"message":"Hello, Alice!"}), reading the body and parsing it as isohook's handler does.
 * Prints its port on stdout.
 *
 * `--session-rows <data folder>` also writes, for each request, the rows a basic sync session
 * writes in isohook's database (its event, its session, four log entries) through isohook's
 * own store and write queue. No sandbox: this is the floor under isohook's sync path, the cost
 * of what SPEC §5 asks to record, so the benchmark can show how much of the gap to bare Koa
 * is the sandbox and how much is the record.
 */
import Koa from "koa";
import pino from "pino";
import getRawBody from "raw-body";
import { openDatabase } from "../src/store/database";
import { SessionsStore } from "../src/store/sessions-store";
import { WriteQueue } from "../src/store/write-queue";

const rowsFlag = process.argv.indexOf("--session-rows");
const store =
  rowsFlag === -1
    ? null
    : new SessionsStore(
        new WriteQueue(openDatabase(process.argv[rowsFlag + 1]!), pino(process.stderr)),
      );
let sequence = 0;

const app = new Koa();
app.use(async (ctx) => {
  const body = await getRawBody(ctx.req, { limit: 10 * 1024 * 1024 });
  const data = JSON.parse(body.toString("utf8")) as { name: string };
  const answer = JSON.stringify({ message: `Hello, ${data.name}!` });
  if (store !== null) recordSession(store, ctx, body, answer);
  ctx.set("Content-Type", "application/json");
  ctx.body = answer;
});
const server = app.listen(0, "127.0.0.1", () => {
  const address = server.address();
  process.stdout.write(`${typeof address === "object" && address ? address.port : 0}\n`);
});

/** The rows isohook writes for one session of the basic job, shaped as it writes them. */
function recordSession(store: SessionsStore, ctx: Koa.Context, body: Buffer, answer: string) {
  const id = `ses_${++sequence}`;
  const eventId = `evt_${sequence}`;
  const now = new Date().toISOString();
  const at = { project: "bench", trigger: "api", deployment_id: "dep_bench" };
  const request = { method: ctx.method, raw_url: ctx.url, url: {}, headers: ctx.headers };
  store.insertEvent({
    id: eventId,
    ...at,
    created_at: now,
    event_type: "webhook",
    data: JSON.stringify(request),
    body,
  });
  store.insertSession({
    id,
    ...at,
    event_id: eventId,
    state: "created",
    is_sync: 1,
    is_durable: 0,
    created_at: now,
    updated_at: now,
    ended_at: null,
    error: null,
    cpu_ms: null,
  });
  let seq = 0;
  const log = (kind: "state" | "outcome", entry: unknown) =>
    store.appendLog({ session_id: id, seq: seq++, time: now, kind, data: JSON.stringify(entry) });
  log("state", { state: "created" });
  store.setState(id, "running", now);
  log("state", { state: "running" });
  log("outcome", { status_code: 200, body: answer, disposition: "sent" });
  store.endSession(id, "completed", new Date().toISOString(), null, 0.05);
  log("state", { state: "completed" });
}
