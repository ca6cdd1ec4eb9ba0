import { randomBytes } from "node:crypto";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import express from "express";
import type { NextFunction, Request, RequestHandler, Response } from "express";
import { OAuthProvider, oauthProxy } from "mcp-oauth-proxy";
import type { JwtOptions, OAuthProxy, Storage } from "mcp-oauth-proxy";

/** Address of the fake upstream and the proxy's client credentials there. */
export interface UpstreamClientConfig {
  url: string;
  clientId: string;
  clientSecret: string;
}

/** Options of {@link startProxyApp}. */
export interface ProxyAppOptions {
  upstream: UpstreamClientConfig;
  /** Default: the proxy's own MemoryStore. */
  storage?: Storage;
  jwt?: JwtOptions;
  /** Default: 32 random bytes. */
  secret?: Buffer;
}

/** A running Express app with the proxy mounted, a bare route and a protected route. */
export interface ProxyApp {
  url: string;
  proxy: OAuthProxy;
  /** The `bearer()` checks on `GET /mcp` that passed so far, and their total wall-clock time. */
  checks: CheckTiming;
  close(): Promise<void>;
}

/** Passed `bearer()` checks and the wall-clock time from calling the middleware to its `next()`. */
export interface CheckTiming {
  count: number;
  totalMicroseconds: number;
}

/** The scope every benchmark token carries and the protected route requires. */
export const BENCH_SCOPE = "mcp:read";

/**
 * Starts an app on 127.0.0.1 as a user would build it: the proxy router at the root, then
 * `GET /bare` and `GET /mcp` with the same trivial JSON handler, `/mcp` behind
 * `proxy.bearer()`. The two routes differ only by `bearer()`. `GET /deferred` is a control:
 * the same handler after a middleware that only defers `next()` to a microtask.
 *
 * Rate limits are off because the token benchmarks send thousands of requests a second
 * from one address, far above any sensible per-address limit.
 */
export async function startProxyApp(options: ProxyAppOptions): Promise<ProxyApp> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const proxy = oauthProxy({
    baseUrl: url,
    provider: new OAuthProvider({
      name: "Fake upstream",
      clientId: options.upstream.clientId,
      clientSecret: options.upstream.clientSecret,
      authorizationEndpoint: `${options.upstream.url}/authorize`,
      tokenEndpoint: `${options.upstream.url}/token`,
      userinfoEndpoint: `${options.upstream.url}/userinfo`,
      scopes: ["openid", "profile", "email", "offline_access"],
    }),
    secret: options.secret ?? randomBytes(32),
    scopes: [BENCH_SCOPE],
    rateLimits: false,
    clientIdMetadataDocuments: false,
    ...(options.storage === undefined ? {} : { storage: options.storage }),
    ...(options.jwt === undefined ? {} : { jwt: options.jwt }),
  });

  const checks: CheckTiming = { count: 0, totalMicroseconds: 0 };
  const app = express();
  app.use(proxy);
  app.get("/bare", sendHello);
  app.get("/deferred", deferNext, sendHello);
  app.get("/mcp", timed(proxy.bearer({ scopes: [BENCH_SCOPE] }), checks), sendHello);
  server.on("request", app);

  return {
    url,
    proxy,
    checks,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await proxy.close();
    },
  };
}

/**
 * Wraps `middleware` to add the time until it calls `next()` without an error to `timing`. With a
 * MemoryStore every step of the check is a resolved promise, so no other request runs in between
 * and the time is the check's own. With Redis it includes the round trips to Redis.
 */
function timed(middleware: RequestHandler, timing: CheckTiming): RequestHandler {
  return (req, res, next) => {
    const started = process.hrtime.bigint();
    middleware(req, res, (error?: unknown) => {
      if (error === undefined) {
        timing.count += 1;
        timing.totalMicroseconds += Number(process.hrtime.bigint() - started) / 1000;
      }
      next(error);
    });
  };
}

/** Calls `next()` from a resolved promise, as an async middleware that awaits nothing slow would. */
function deferNext(_req: Request, _res: Response, next: NextFunction): void {
  void Promise.resolve().then(() => next());
}

function sendHello(_req: Request, res: Response): void {
  res.json({ hello: "world" });
}
