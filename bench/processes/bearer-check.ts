// Child process: the in-process cost of one bearer() check next to the MCP SDK's requireBearerAuth.
//   node --import tsx bench/processes/bearer-check.ts <runs> <taskMilliseconds>
import { randomBytes } from "node:crypto";
import express from "express";
import type { NextFunction, Request, RequestHandler, Response } from "express";
import jsonwebtoken from "jsonwebtoken";
import type { JwtPayload } from "jsonwebtoken";
import { requireBearerAuth } from "@modelcontextprotocol/sdk/server/auth/middleware/bearerAuth.js";
import { InvalidTokenError } from "@modelcontextprotocol/sdk/server/auth/errors.js";
import type { AuthInfo } from "@modelcontextprotocol/sdk/server/auth/types.js";
import { Bench } from "tinybench";
import { EncryptedStore, MemoryStore } from "mcp-oauth-proxy";
import type { JwtOptions, Storage } from "mcp-oauth-proxy";
import { deriveKeys } from "../../lib/core/keys.js";
import { keys } from "../../lib/records.js";
import { reportResult } from "../child-process.js";
import { CHECKS_PER_ITERATION } from "../scenarios/bearer-check.js";
import type { BearerCheckResult, TASKS } from "../scenarios/bearer-check.js";
import { startFakeUpstream } from "../fake-upstream.js";
import { BENCH_SCOPE, startProxyApp } from "../proxy-app.js";
import type { ProxyApp } from "../proxy-app.js";
import { signIn } from "../sign-in.js";

const [runs = 5, taskMilliseconds = 500] = process.argv.slice(2).map(Number);
const CLIENT = { clientId: "bench-proxy", clientSecret: randomBytes(24).toString("base64url") };

reportResult(async () => {
  const upstream = await startFakeUpstream(CLIENT);
  const upstreamConfig = { url: upstream.url, ...CLIENT };
  const secret = randomBytes(32);
  const storage = new EncryptedStore(new MemoryStore(), [{ id: "bench", key: randomBytes(32) }]);
  const apps: ProxyApp[] = [];
  const start = async (options: { jwt?: JwtOptions; storage?: Storage; secret?: Buffer }): Promise<ProxyApp> => {
    const app = await startProxyApp({ upstream: upstreamConfig, ...options });
    apps.push(app);
    return app;
  };

  try {
    const hs256 = await start({ storage, secret });
    const hs256Uncached = await start({ jwt: { verifiedTokenCacheSize: 0 } });
    const es256 = await start({ jwt: { algorithm: "ES256" } });
    const es256Uncached = await start({ jwt: { algorithm: "ES256", verifiedTokenCacheSize: 0 } });
    const hs256Token = (await signIn(hs256.url)).accessToken;

    const checks: Record<keyof typeof TASKS, () => Promise<void>> = {
      "hs256-cached": await proxyCheck(hs256, hs256Token),
      "hs256-uncached": await proxyCheck(hs256Uncached),
      "es256-cached": await proxyCheck(es256),
      "es256-uncached": await proxyCheck(es256Uncached),
      "grant-read": grantRead(storage, hs256Token),
      sdk: await prepareCheck(sdkMiddleware(hs256.url, secret, storage), hs256Token),
    };
    return await measure(checks, runs, taskMilliseconds);
  } finally {
    await Promise.all(apps.map((app) => app.close()));
    await upstream.close();
  }
});

async function proxyCheck(app: ProxyApp, token?: string): Promise<() => Promise<void>> {
  return prepareCheck(app.proxy.bearer({ scopes: [BENCH_SCOPE] }), token ?? (await signIn(app.url)).accessToken);
}

/**
 * Returns a function that runs `middleware` once on a prepared request and resolves when it
 * calls `next()`. The request is an Express request object with the fields of a routed GET.
 * The response throws on use, because a passing check never touches it.
 */
async function prepareCheck(middleware: RequestHandler, token: string): Promise<() => Promise<void>> {
  const req = Object.create(express.request) as Request;
  Object.assign(req, { method: "GET", url: "/mcp", originalUrl: "/mcp", headers: { host: "127.0.0.1", authorization: `Bearer ${token}` } });
  const res = new Proxy({}, {
    get(_target, name) {
      throw new Error(`The check touched res.${String(name)}, so it did not pass`);
    },
  }) as Response;

  const check = (): Promise<void> => new Promise((resolve, reject) => {
    const next: NextFunction = (error?: unknown) => (error === undefined ? resolve() : reject(error));
    Promise.resolve(middleware(req, res, next)).catch(reject);
  });

  await check();
  if (req.auth?.scopes.includes(BENCH_SCOPE) !== true) {
    throw new Error("The prepared check passed without setting req.auth");
  }
  return check;
}

/** Reads the grant behind `token` as `bearer()` does, without the rest of the check. */
function grantRead(storage: Storage, token: string): () => Promise<void> {
  const claims = jsonwebtoken.decode(token) as JwtPayload;
  const key = keys.grant(String(claims.sid));
  return async () => {
    if (await storage.get(key) === undefined) {
      throw new Error("The grant behind the prepared token is missing");
    }
  };
}

/**
 * Builds the MCP SDK's bearer middleware with a verifier that does the proxy's work for a token
 * it has not seen. The verifier checks the token with jsonwebtoken HS256 and a KeyObject (the
 * proxy's own key, derived from the same secret), then reads the same grant from the same store.
 */
function sdkMiddleware(baseUrl: string, secret: Buffer, storage: Storage): RequestHandler {
  const signingKey = deriveKeys(secret).signingKey;
  const resource = `${baseUrl}/mcp`;
  return requireBearerAuth({
    requiredScopes: [BENCH_SCOPE],
    resourceMetadataUrl: `${baseUrl}/.well-known/oauth-protected-resource/mcp`,
    expectedResource: new URL(resource),
    verifier: {
      async verifyAccessToken(token: string): Promise<AuthInfo> {
        const claims = jsonwebtoken.verify(token, signingKey, { algorithms: ["HS256"], issuer: baseUrl, audience: resource }) as JwtPayload;
        const grant = await storage.get(keys.grant(String(claims.sid))) as { clientId: string; upstream: unknown } | undefined;
        if (grant === undefined || grant.clientId !== claims.client_id) {
          throw new InvalidTokenError("The access token was revoked");
        }
        return {
          token,
          clientId: grant.clientId,
          scopes: String(claims.scope).split(" "),
          ...(claims.exp === undefined ? {} : { expiresAt: claims.exp }),
          resource: new URL(resource),
          extra: { upstream: grant.upstream },
        };
      },
    },
  });
}

async function measure(checks: Record<keyof typeof TASKS, () => Promise<void>>, runCount: number, time: number): Promise<BearerCheckResult> {
  const result: BearerCheckResult = {};
  for (let run = 0; run < runCount; run++) {
    const bench = new Bench({ time, warmupTime: 100, throws: true });
    for (const [name, check] of Object.entries(checks)) {
      bench.add(name, async () => {
        for (let index = 0; index < CHECKS_PER_ITERATION; index++) {
          await check();
        }
      });
    }
    await bench.run();

    for (const task of bench.tasks) {
      const latency = task.result?.latency;
      if (latency === undefined) {
        throw new Error(`tinybench has no result for ${task.name}`);
      }
      (result[task.name] ??= []).push((latency.mean * 1000) / CHECKS_PER_ITERATION);
    }
  }
  return result;
}
