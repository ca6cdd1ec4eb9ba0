import { generateKeyPairSync, randomBytes } from "node:crypto";
import { createServer } from "node:http";
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import createDebug from "debug";
// @ts-expect-error -- oidc-provider 9 ships no type declarations; the shapes used here are typed below.
import Provider from "oidc-provider";

const debug = createDebug("mcp-oauth-proxy:upstream");

/** A client pre-registered at the embedded upstream. */
export interface UpstreamClient {
  clientId: string;
  clientSecret: string;
  redirectUris: string[];
  /** Client authentication method at the token and revocation endpoints; defaults to `client_secret_basic`. */
  tokenEndpointAuthMethod?: "client_secret_basic" | "client_secret_post";
}

/** Options for `startUpstream`. */
export interface UpstreamOptions {
  clients: UpstreamClient[];
  /** TCP port on 127.0.0.1; 0 (the default) picks a free one. */
  port?: number;
  /** Lifetime of issued access tokens in seconds; defaults to 3600. */
  accessTokenTtlSeconds?: number;
}

/** A request the embedded upstream received. */
export interface UpstreamRequest {
  method: string;
  path: string;
}

/** A running embedded upstream. */
export interface Upstream {
  /** Issuer identifier, `http://127.0.0.1:<port>`, also the base of every endpoint. */
  issuer: string;
  /** Base URL of every endpoint, equal to `issuer`. */
  url: string;
  /** Every request received so far, in arrival order. */
  requests: UpstreamRequest[];
  /** Makes every grant issued so far invalid, so refreshing one returns `invalid_grant`. */
  revokeAll(): void;
  close(): Promise<void>;
}

interface StoredEntry {
  payload: Record<string, unknown>;
  expiresAt: number | undefined;
}

// Models whose entries belong to a grant; revokeAll deletes them with the grants.
const GRANT_MODELS = new Set(["Grant", "AccessToken", "AuthorizationCode", "RefreshToken"]);

/**
 * An in-memory oidc-provider adapter. Unlike the built-in one, whose store is
 * module-wide and capped at 1000 entries, each upstream gets its own store, and
 * the store can be emptied of grants for revokeAll.
 */
class MemoryStore {
  readonly entries = new Map<string, StoredEntry>();

  adapterFor(model: string): MemoryAdapter {
    return new MemoryAdapter(model, this);
  }

  get(key: string): Record<string, unknown> | undefined {
    const entry = this.entries.get(key);
    if (entry?.expiresAt !== undefined && entry.expiresAt <= Date.now()) {
      this.entries.delete(key);
      return undefined;
    }
    return entry?.payload;
  }

  deleteWhere(matches: (key: string, payload: Record<string, unknown>) => boolean): void {
    for (const [key, entry] of this.entries) {
      if (matches(key, entry.payload)) {
        this.entries.delete(key);
      }
    }
  }

  revokeAllGrants(): void {
    this.deleteWhere((key) => GRANT_MODELS.has(key.slice(0, key.indexOf(":"))));
  }
}

class MemoryAdapter {
  constructor(
    private readonly model: string,
    private readonly store: MemoryStore,
  ) {}

  private key(id: string): string {
    return `${this.model}:${id}`;
  }

  async upsert(id: string, payload: Record<string, unknown>, expiresIn: number | undefined): Promise<void> {
    const expiresAt = typeof expiresIn === "number" ? Date.now() + expiresIn * 1000 : undefined;
    this.store.entries.set(this.key(id), { payload, expiresAt });
  }

  async find(id: string): Promise<Record<string, unknown> | undefined> {
    return this.store.get(this.key(id));
  }

  async findByUid(uid: string): Promise<Record<string, unknown> | undefined> {
    return this.findBy("uid", uid);
  }

  async findByUserCode(userCode: string): Promise<Record<string, unknown> | undefined> {
    return this.findBy("userCode", userCode);
  }

  async consume(id: string): Promise<void> {
    const payload = this.store.get(this.key(id));
    if (payload) {
      payload.consumed = Math.floor(Date.now() / 1000);
    }
  }

  async destroy(id: string): Promise<void> {
    this.store.entries.delete(this.key(id));
  }

  async revokeByGrantId(grantId: string): Promise<void> {
    this.store.deleteWhere((key, payload) => key.startsWith(`${this.model}:`) && payload.grantId === grantId);
  }

  private findBy(field: string, value: string): Record<string, unknown> | undefined {
    for (const [key] of this.store.entries) {
      const payload = key.startsWith(`${this.model}:`) ? this.store.get(key) : undefined;
      if (payload?.[field] === value) {
        return payload;
      }
    }
    return undefined;
  }
}

/** The part of oidc-provider's Provider (a Koa app) used here. */
interface OidcProvider {
  callback(): (req: IncomingMessage, res: ServerResponse) => void;
  on(event: string, listener: (...args: unknown[]) => void): void;
}

type OidcProviderConstructor = new (issuer: string, configuration: Record<string, unknown>) => OidcProvider;

/**
 * Starts an in-memory OpenID provider (panva's oidc-provider) on 127.0.0.1 that
 * accepts any login name, for the demo and the tests.
 *
 * @example
 * const upstream = await startUpstream({
 *   clients: [{ clientId: "proxy", clientSecret: "secret", redirectUris: ["http://127.0.0.1:3000/oauth/callback"] }],
 * });
 */
export async function startUpstream(options: UpstreamOptions): Promise<Upstream> {
  const requests: UpstreamRequest[] = [];
  const store = new MemoryStore();
  const server = createServer();

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });

  const { port } = server.address() as AddressInfo;
  const issuer = `http://127.0.0.1:${port}`;
  const provider = new (Provider as OidcProviderConstructor)(issuer, providerConfiguration(options, store));

  provider.on("server_error", (_ctx, error) => {
    debug("server_error issuer=%s error=%s", issuer, error instanceof Error ? error.message : String(error));
  });

  const handle = provider.callback();
  server.on("request", (req, res) => {
    requests.push({ method: req.method ?? "GET", path: new URL(req.url ?? "/", issuer).pathname });
    handle(req, res);
  });
  debug("started issuer=%s", issuer);

  return {
    issuer,
    url: issuer,
    requests,
    revokeAll: () => store.revokeAllGrants(),
    close: () => closeServer(server),
  };
}

function providerConfiguration(options: UpstreamOptions, store: MemoryStore): Record<string, unknown> {
  const accessTokenTtl = options.accessTokenTtlSeconds ?? 3600;
  const signingKey = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({ format: "jwk" });

  return {
    clients: options.clients.map((client) => ({
      client_id: client.clientId,
      client_secret: client.clientSecret,
      redirect_uris: client.redirectUris,
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
      token_endpoint_auth_method: client.tokenEndpointAuthMethod ?? "client_secret_basic",
    })),
    adapter: (model: string) => store.adapterFor(model),
    findAccount: (_ctx: unknown, sub: string) => ({
      accountId: sub,
      claims: () => ({ sub, name: `${sub} (demo)`, email: `${sub}@example.test`, email_verified: true }),
    }),
    claims: { openid: ["sub"], profile: ["name"], email: ["email", "email_verified"] },
    // With the default (true), an ID token issued next to an access token carries only `sub`,
    // because OIDC Core §5.4 sends scope claims to userinfo. The tests need them in both.
    conformIdTokenClaims: false,
    // oidc-provider issues refresh tokens only for `offline_access` by default. The proxy
    // does not request that scope but needs a refresh token from every sign-in.
    issueRefreshToken: async (_ctx: unknown, client: { grantTypeAllowed(type: string): boolean }) =>
      client.grantTypeAllowed("refresh_token"),
    pkce: { required: () => true },
    // OAuth 2.1 drops the implicit flow; oidc-provider enables it by default.
    responseTypes: ["code"],
    features: {
      devInteractions: { enabled: true },
      // RFC 7009 §2.1: a client may revoke only tokens issued to it.
      revocation: {
        enabled: true,
        allowedPolicy: (_ctx: unknown, client: { clientId: string }, token: { clientId: string }) => token.clientId === client.clientId,
      },
      userinfo: { enabled: true },
    },
    // The proxy calls the token, userinfo and revocation endpoints from its server, never from a browser.
    clientBasedCORS: () => false,
    cookies: { keys: [randomBytes(32).toString("base64url")] },
    jwks: { keys: [{ ...signingKey, alg: "RS256", use: "sig" }] },
    ttl: {
      AccessToken: accessTokenTtl,
      AuthorizationCode: 60,
      IdToken: 3600,
      Interaction: 3600,
      RefreshToken: 14 * 24 * 3600,
      Session: 14 * 24 * 3600,
      Grant: 14 * 24 * 3600,
    },
    renderError: (ctx: { type: string; body: string }, out: Record<string, string>) => {
      ctx.type = "html";
      ctx.body = `<!DOCTYPE html><title>Error</title><h1>${escapeHtml(out.error ?? "error")}</h1><p>${escapeHtml(out.error_description ?? "")}</p>`;
    },
  };
}

function escapeHtml(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve, reject) => {
    server.close((error) => (error ? reject(error) : resolve()));
    // Keep-alive sockets from fetch would otherwise hold close() open until they time out.
    server.closeAllConnections();
  });
}
