import { randomBytes } from "node:crypto";
import { createServer, request as httpRequest } from "node:http";
import type { IncomingHttpHeaders, IncomingMessage, Server, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { OIDCProvider } from "mcp-oauth-proxy";
import type { OAuthProxyOptions } from "mcp-oauth-proxy";
import { UPSTREAM_CLIENT_ID } from "../../examples/demo/app.js";
import { startUpstream } from "../../examples/demo/upstream.js";
import type { Upstream } from "../../examples/demo/upstream.js";
import { Harness } from "./harness.js";
import { freePort } from "./ports.js";

/** One request that passed through the tap, with the response the proxy got back. */
export interface TappedExchange {
  method: string;
  path: string;
  query: Record<string, string>;
  /** The form-encoded request body; empty for other bodies. */
  form: Record<string, string>;
  authorization: string | undefined;
  /** The raw request body, for searching it for values that must never be sent. */
  requestBody: string;
  /** The status returned to the proxy; 0 while a hanging fault leaves the request unanswered. */
  status: number;
  responseBody: string;
  /** True when the tap sent an injected fault instead of forwarding. */
  injected: boolean;
}

/**
 * What the tap does instead of forwarding a token request: send a response of
 * its own, or never respond so that the proxy's request times out.
 */
export type TapFault =
  | { status: number; body: string; /** Defaults to `application/json`. */ contentType?: string }
  | { hang: true };

// RFC 9110 §7.6.1: connection-specific headers are not forwarded; the tap sets its own framing.
const HOP_BY_HOP = new Set(["connection", "keep-alive", "transfer-encoding", "upgrade", "proxy-connection", "content-length"]);

/**
 * An HTTP proxy on 127.0.0.1 in front of the embedded upstream. It forwards
 * every request unchanged apart from the Host header, records what the proxy
 * sent and received, and can reply to the next token requests with a fault.
 */
export class UpstreamTap {
  /** Origin of the tap, `http://127.0.0.1:<port>`. */
  readonly url: string;
  readonly exchanges: TappedExchange[] = [];
  private readonly target: URL;
  private readonly tokenPath: string;
  private readonly server: Server;
  private readonly faults = new Map<string, TapFault[]>();

  private constructor(server: Server, target: URL, tokenPath: string) {
    this.server = server;
    this.target = target;
    this.tokenPath = tokenPath;
    this.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  /** Starts a tap that forwards to `target`; `tokenPath` is the upstream token endpoint's path. */
  static async start(target: string, tokenPath: string): Promise<UpstreamTap> {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const tap = new UpstreamTap(server, new URL(target), tokenPath);
    server.on("request", (req, res) => {
      tap.handle(req, res).catch((error: unknown) => {
        res.writeHead(502, { "content-type": "text/plain" });
        res.end(`The upstream tap could not forward the request: ${error instanceof Error ? error.message : String(error)}`);
      });
    });
    return tap;
  }

  /** Returns `url` (an upstream URL) with the tap's origin, keeping path and query. */
  rewrite(url: string): string {
    const parsed = new URL(url);
    return `${this.url}${parsed.pathname}${parsed.search}`;
  }

  /** Replies to the next `count` POSTs to the token endpoint with `fault` instead of forwarding them. */
  failTokenRequests(count: number, fault: TapFault): void {
    this.failRequests(this.tokenPath, count, fault);
  }

  /** Replies to the next `count` POSTs to `path` with `fault` instead of forwarding them. */
  failRequests(path: string, count: number, fault: TapFault): void {
    const queue = this.faults.get(path) ?? [];
    queue.push(...Array.from({ length: count }, () => fault));
    this.faults.set(path, queue);
  }

  /** Token requests so far, optionally only those of one grant type. */
  tokenRequests(grantType?: string): TappedExchange[] {
    return this.exchanges.filter((exchange) => exchange.method === "POST"
      && exchange.path === this.tokenPath
      && (grantType === undefined || exchange.form.grant_type === grantType));
  }

  /** POSTs to `path` so far, such as revocation requests. */
  postsTo(path: string): TappedExchange[] {
    return this.exchanges.filter((exchange) => exchange.method === "POST" && exchange.path === path);
  }

  close(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.close((error) => (error ? reject(error) : resolve()));
      this.server.closeAllConnections();
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const requestBody = await readBody(req);
    const url = new URL(req.url ?? "/", this.url);
    const isForm = (req.headers["content-type"] ?? "").startsWith("application/x-www-form-urlencoded");
    const exchange: TappedExchange = {
      method: req.method ?? "GET",
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      form: isForm ? Object.fromEntries(new URLSearchParams(requestBody.toString("utf8"))) : {},
      authorization: req.headers.authorization,
      requestBody: requestBody.toString("utf8"),
      status: 0,
      responseBody: "",
      injected: false,
    };
    this.exchanges.push(exchange);

    const fault = exchange.method === "POST" ? this.faults.get(exchange.path)?.shift() : undefined;
    if (fault !== undefined && "hang" in fault) {
      // The response stays open until the proxy gives up or close() ends every connection.
      exchange.injected = true;
      return;
    }
    if (fault !== undefined) {
      exchange.status = fault.status;
      exchange.responseBody = fault.body;
      exchange.injected = true;
      res.writeHead(fault.status, { "content-type": fault.contentType ?? "application/json", "cache-control": "no-store" });
      res.end(fault.body);
      return;
    }

    const upstream = await this.forward(req, url, requestBody);
    exchange.status = upstream.status;
    exchange.responseBody = upstream.body.toString("utf8");
    res.writeHead(upstream.status, upstream.headers);
    res.end(upstream.body);
  }

  private forward(req: IncomingMessage, url: URL, body: Buffer): Promise<{ status: number; headers: Record<string, string | string[]>; body: Buffer }> {
    const headers = withoutHopByHop(req.headers);
    headers.host = this.target.host;
    if (body.length > 0) {
      headers["content-length"] = String(body.length);
    }

    return new Promise((resolve, reject) => {
      const outgoing = httpRequest(new URL(`${url.pathname}${url.search}`, this.target), { method: req.method, headers }, (response) => {
        readBody(response).then((responseBody) => {
          resolve({ status: response.statusCode ?? 502, headers: withoutHopByHop(response.headers), body: responseBody });
        }, reject);
      });
      outgoing.on("error", reject);
      outgoing.end(body);
    });
  }
}

function withoutHopByHop(headers: IncomingHttpHeaders): Record<string, string | string[]> {
  const forwarded: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined && !HOP_BY_HOP.has(name)) {
      forwarded[name] = value;
    }
  }
  return forwarded;
}

async function readBody(stream: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) {
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** The members of the embedded upstream's discovery document that the tap rewrites. */
export interface UpstreamDiscovery {
  issuer: string;
  authorization_endpoint: string;
  token_endpoint: string;
  revocation_endpoint: string;
  userinfo_endpoint: string;
  jwks_uri: string;
}

/** A running proxy whose server-to-server upstream traffic passes through an `UpstreamTap`. */
export interface TappedHarness {
  harness: Harness;
  tap: UpstreamTap;
  upstream: Upstream;
  /** The real upstream endpoints, for calling the upstream directly. */
  discovery: UpstreamDiscovery;
  /** The proxy's client at the upstream, for checking upstream state directly. */
  upstreamClient: { clientId: string; clientSecret: string };
  close(): Promise<void>;
}

/** Options of `startTappedHarness()`. */
export interface TappedHarnessOptions {
  /** Lifetime of the proxy's access tokens in seconds. */
  accessTokenTtl?: number;
  /** Lifetime of the upstream's access tokens in seconds. */
  upstreamAccessTokenTtl?: number;
  /** Time limit for each upstream request in milliseconds; the provider's default when absent. */
  upstreamTimeoutMs?: number;
  proxyOptions?: Partial<OAuthProxyOptions>;
}

/**
 * Starts the demo with its own embedded upstream and an `OIDCProvider` whose
 * discovery, token, revocation, userinfo and JWKS requests go through a tap.
 * The tap forwards bodies unchanged, so the issuer and ID tokens still match.
 * The authorization endpoint stays at the upstream itself, because the sign-in
 * cookies the upstream sets belong to its own host and port.
 */
export async function startTappedHarness(options: TappedHarnessOptions = {}): Promise<TappedHarness> {
  const port = await freePort();
  const clientSecret = randomBytes(24).toString("base64url");
  const upstream = await startUpstream({
    clients: [{ clientId: UPSTREAM_CLIENT_ID, clientSecret, redirectUris: [`http://127.0.0.1:${port}/oauth/callback`] }],
    ...(options.upstreamAccessTokenTtl === undefined ? {} : { accessTokenTtlSeconds: options.upstreamAccessTokenTtl }),
  });
  const discoveryUrl = `${upstream.issuer}/.well-known/openid-configuration`;
  const discovery = await (await fetch(discoveryUrl)).json() as UpstreamDiscovery;
  const tap = await UpstreamTap.start(upstream.url, new URL(discovery.token_endpoint).pathname);

  const provider = new OIDCProvider({
    name: "Demo identity provider",
    issuer: upstream.issuer,
    discoveryUrl: tap.rewrite(discoveryUrl),
    clientId: UPSTREAM_CLIENT_ID,
    clientSecret,
    scopes: ["openid", "profile", "email", "offline_access"],
    ...(options.upstreamTimeoutMs === undefined ? {} : { timeoutMs: options.upstreamTimeoutMs }),
    endpoints: {
      token: tap.rewrite(discovery.token_endpoint),
      revocation: tap.rewrite(discovery.revocation_endpoint),
      userinfo: tap.rewrite(discovery.userinfo_endpoint),
      jwks: tap.rewrite(discovery.jwks_uri),
    },
  });
  const harness = await Harness.start({
    port,
    upstream: { server: upstream, clientSecret },
    ...(options.accessTokenTtl === undefined ? {} : { accessTokenTtl: options.accessTokenTtl }),
    proxyOptions: { ...options.proxyOptions, provider },
  });

  return {
    harness,
    tap,
    upstream,
    discovery,
    upstreamClient: { clientId: UPSTREAM_CLIENT_ID, clientSecret },
    async close() {
      await harness.close();
      await tap.close();
      await upstream.close();
    },
  };
}
