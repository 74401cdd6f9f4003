/**
 * The server's request listener: webhooks first, answered by their own handler (the hot
 * path, which writes its answers byte for byte), then a Koa application for `/healthz` and
 * the management API. Errors become JSON; only exposed messages reach the caller.
 */
import Koa, { type Middleware } from "koa";
import type { Logger } from "pino";
import { apiRouter, type ApiDeps } from "./api/api-routes";
import { DeployError, IsohookError, TooManySessionsError } from "./errors";
import { webhookHandler, type WebhookDeps } from "./webhooks/webhook-route";
import type { RequestListener } from "node:http";

export function createApp(deps: {
  api: ApiDeps;
  webhooks: WebhookDeps;
  logger: Logger;
}): RequestListener {
  const webhooks = webhookHandler(deps.webhooks);
  const api = managementApp(deps).callback();
  return (req, res) => {
    if (!webhooks(req, res)) void api(req, res);
  };
}

function managementApp(deps: { api: ApiDeps; logger: Logger }): Koa {
  const app = new Koa();
  app.silent = true;
  app.use(jsonErrors(deps.logger));
  app.use(async (ctx, next) => {
    if (ctx.path !== "/healthz") return next();
    ctx.body = { ok: true };
  });
  const api = apiRouter(deps.api);
  app.use(api.routes());
  app.use(api.allowedMethods({ throw: false }));
  app.use((ctx) => {
    ctx.status = 404;
    ctx.body = { error: `nothing at ${ctx.method} ${ctx.path}` };
  });
  return app;
}

function jsonErrors(logger: Logger): Middleware {
  return async (ctx, next) => {
    try {
      await next();
    } catch (error) {
      if (error instanceof IsohookError) {
        ctx.status = error.status;
        ctx.body = {
          error: error.expose ? error.message : "internal error",
          code: error.code,
          ...(error instanceof DeployError ? { details: error.details } : {}),
        };
        if (error instanceof TooManySessionsError)
          ctx.set("Retry-After", String(error.retryAfterSeconds));
        if (!error.expose) logger.error({ err: error }, "request failed");
        return;
      }
      logger.error({ err: error, method: ctx.method, path: ctx.path }, "request failed");
      ctx.status = 500;
      ctx.body = { error: "internal error", code: "internal" };
    }
  };
}
