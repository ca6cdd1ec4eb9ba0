import { randomBytes } from "node:crypto";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import cors from "cors";
import express from "express";
import type { NextFunction, Request, Response } from "express";
import { OIDCProvider, oauthProxy } from "mcp-oauth-proxy";
import type { OAuthProxy, OAuthProxyOptions, Storage } from "mcp-oauth-proxy";
import session from "express-session";
import { mountMcpRoute } from "../shared/mcp-route.js";
import { startUpstream } from "./upstream.js";
import type { Upstream } from "./upstream.js";

/** A running demo: the embedded upstream, the proxy and the MCP server, all on 127.0.0.1. */
export interface Demo {
  /** Public base URL of the app that serves the proxy and the MCP endpoint: the issuer. */
  baseUrl: string;
  /** Local address this instance listens on, which differs from `baseUrl` behind a load balancer. */
  localUrl: string;
  /** URL of the protected MCP endpoint. */
  mcpUrl: string;
  upstream: Upstream;
  proxy: OAuthProxy;
  close(): Promise<void>;
}

/** Options of `startDemo()`. */
export interface DemoOptions {
  /** Port of the app; 0 picks a free one. */
  port?: number;
  /** Port of the embedded upstream; 0 picks a free one. */
  upstreamPort?: number;
  storage?: Storage;
  accessTokenTtl?: number;
  upstreamAccessTokenTtl?: number;
  /** Express module to build the app with, so tests can run against Express 4 and 5. */
  express?: typeof express;
  /** Mounts the host app's own express-session before the proxy, as many apps do. */
  hostSession?: boolean;
  /** Further proxy options, applied over the demo's. */
  proxyOptions?: Partial<OAuthProxyOptions>;
  /** The proxy secret; default a random one. Pass the same one to survive a restart. */
  secret?: string | string[];
  /** Public URL when the app sits behind a load balancer; default the app's own address. */
  publicUrl?: string;
  /** An upstream that is already running (it must know the client `UPSTREAM_CLIENT_ID`); it is not closed with the demo. */
  upstream?: SharedUpstream;
}

/** A running upstream shared by several demo instances or restarts. */
export interface SharedUpstream {
  server: Upstream;
  clientSecret: string;
}

/** Starts an embedded upstream whose one client accepts `redirectUris`, for sharing between demo instances. */
export async function startSharedUpstream(redirectUris: string[]): Promise<SharedUpstream> {
  const clientSecret = randomBytes(24).toString("base64url");
  const server = await startUpstream({ clients: [{ clientId: UPSTREAM_CLIENT_ID, clientSecret, redirectUris }] });
  return { server, clientSecret };
}

/** Client id of the proxy at the embedded upstream. */
export const UPSTREAM_CLIENT_ID = "mcp-oauth-proxy-demo";

/**
 * Starts the demo: an embedded OIDC provider (panva's oidc-provider, any login
 * name accepted), an Express app with the proxy in front, and an MCP server
 * whose `whoami` tool calls the upstream user-info endpoint with the caller's
 * upstream access token.
 */
export async function startDemo(options: DemoOptions = {}): Promise<Demo> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
  const localUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const baseUrl = options.publicUrl ?? localUrl;

  const ownsUpstream = options.upstream === undefined;
  const upstreamSecret = options.upstream?.clientSecret ?? randomBytes(24).toString("base64url");
  const upstream = options.upstream?.server ?? await startUpstream({
    port: options.upstreamPort ?? 0,
    clients: [{ clientId: UPSTREAM_CLIENT_ID, clientSecret: upstreamSecret, redirectUris: [`${baseUrl}/oauth/callback`] }],
    ...(options.upstreamAccessTokenTtl === undefined ? {} : { accessTokenTtlSeconds: options.upstreamAccessTokenTtl }),
  });

  const discovery = await (await fetch(`${upstream.issuer}/.well-known/openid-configuration`)).json() as { userinfo_endpoint: string };

  const proxy = oauthProxy({
    baseUrl,
    provider: new OIDCProvider({
      name: "Demo identity provider",
      issuer: upstream.issuer,
      clientId: UPSTREAM_CLIENT_ID,
      clientSecret: upstreamSecret,
      scopes: ["openid", "profile", "email", "offline_access"],
    }),
    secret: options.secret ?? randomBytes(32).toString("base64url"),
    scopes: ["mcp:read", "mcp:write"],
    defaultScopes: ["mcp:read"],
    resourceName: "Demo MCP server",
    ...(options.storage === undefined ? {} : { storage: options.storage }),
    ...(options.accessTokenTtl === undefined ? {} : { accessTokenTtl: options.accessTokenTtl }),
    ...options.proxyOptions,
  });

  const expressModule = options.express ?? express;
  const app = expressModule();
  if (options.hostSession === true) {
    app.use(session({ secret: "host-app-session-secret", resave: false, saveUninitialized: true }));
    app.get("/host/visits", (req: Request, res: Response) => {
      const state = req.session as unknown as { visits?: number };
      state.visits = (state.visits ?? 0) + 1;
      res.json({ visits: state.visits });
    });
  }
  app.use(proxy);
  const mcpCors = cors({ origin: "*", exposedHeaders: ["WWW-Authenticate", "Mcp-Session-Id"] });
  app.options("/mcp", mcpCors);
  mountMcpRoute(app, "/mcp", "mcp-oauth-proxy-demo", [mcpCors, proxy.bearer({ scopes: ["mcp:read"] })], (mcp) => registerWhoami(mcp, discovery.userinfo_endpoint));
  // Body-parser errors on /mcp (invalid JSON, a body over the limit) become JSON-RPC errors, not Express's HTML page.
  app.use("/mcp", (error: { status?: number }, _req: Request, res: Response, next: NextFunction) => {
    if (res.headersSent) {
      next(error);
      return;
    }
    const status = typeof error.status === "number" && error.status >= 400 && error.status < 500 ? error.status : 500;
    res.status(status).json({ jsonrpc: "2.0", error: { code: -32700, message: status === 413 ? "Request body too large" : "Parse error" }, id: null });
  });
  server.on("request", app);

  return {
    baseUrl,
    localUrl,
    mcpUrl: `${baseUrl}/mcp`,
    upstream,
    proxy,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await proxy.close();
      if (ownsUpstream) {
        await upstream.close();
      }
    },
  };
}

/** Adds the demo's `whoami` tool, which reads the upstream user-info endpoint with the caller's upstream access token. */
function registerWhoami(mcp: McpServer, userinfoEndpoint: string): void {
  mcp.registerTool("whoami", {
    description: "Returns who you are at the upstream identity provider, read with your upstream access token.",
  }, async (extra) => {
    const upstream = extra.authInfo?.extra?.upstream as { accessToken: string } | undefined;
    if (upstream === undefined) {
      return { isError: true, content: [{ type: "text", text: "No upstream session" }] };
    }
    const userinfo = await fetch(userinfoEndpoint, { headers: { authorization: `Bearer ${upstream.accessToken}` } });
    const text = userinfo.ok ? JSON.stringify(await userinfo.json()) : `The upstream user-info endpoint responded with ${userinfo.status}`;
    return { isError: !userinfo.ok, content: [{ type: "text", text }] };
  });
}
