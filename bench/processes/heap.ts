// Child process: heap per live grant in a MemoryStore. Needs --expose-gc.
//   node --expose-gc --import tsx bench/processes/heap.ts <oidc|oauth> <runs> <grant count>...
// "oidc" stores the upstream session as the fake upstream returns it, with an ID token.
// "oauth" drops the ID token, because a plain OAuth 2.0 provider such as GitHub sends none.
import { randomBytes } from "node:crypto";
import { OAuthProvider } from "mcp-oauth-proxy";
import { registerClient } from "../../lib/clients.js";
import { buildEndpoints } from "../../lib/context.js";
import type { ProxyContext } from "../../lib/context.js";
import { ClientIdSealer } from "../../lib/core/client-id.js";
import { deriveKeys, hmacTokenKey } from "../../lib/core/keys.js";
import { hashKey } from "../../lib/core/random.js";
import { VerifiedTokenCache } from "../../lib/core/token-cache.js";
import { createGrant } from "../../lib/grants.js";
import { resolveOptions } from "../../lib/options.js";
import { keys } from "../../lib/records.js";
import type { UpstreamSession } from "../../lib/records.js";
import { createSigningKeySet } from "../../lib/signing-key-set.js";
import { EncryptedStore } from "../../lib/storage/encrypted.js";
import { GuardedStore } from "../../lib/storage/guarded.js";
import { MemoryStore } from "../../lib/storage/memory.js";
import { issueTokens } from "../../lib/tokens.js";
import { reportResult } from "../child-process.js";
import type { HeapResult } from "../scenarios/heap.js";
import { startFakeUpstream } from "../fake-upstream.js";
import { REDIRECT_URI, createPkce } from "../sign-in.js";

const [sessionKind = "oidc", ...numbers] = process.argv.slice(2);
const [runs = 5, ...sizes] = numbers.map(Number);
const CLIENT = { clientId: "bench-proxy", clientSecret: randomBytes(24).toString("base64url") };
const RESOURCE = "http://127.0.0.1:3000/mcp";

reportResult(async (): Promise<HeapResult> => {
  if (typeof global.gc !== "function") {
    throw new Error("Run with node --expose-gc");
  }
  const collect = global.gc;
  const counts = [...sizes].sort((a, b) => a - b);
  const largest = counts.at(-1) ?? 0;
  const { provider, session } = await upstreamSession();
  if (sessionKind === "oauth") {
    delete session.tokens.idToken;
  }

  const result: HeapResult = { bytesPerGrant: {}, plaintextBytes: [], storedCharacters: [], idTokenCharacters: session.tokens.idToken?.length ?? 0 };
  for (let run = 0; run < runs; run++) {
    // Two entries per grant (the grant and its refresh token), so the store's default cap of 100000 entries is raised.
    const store = new MemoryStore({ maxEntries: 2 * largest + 100 });
    const context = buildContext(provider, store);
    const { client } = await registerClient(context, {
      redirect_uris: [REDIRECT_URI],
      token_endpoint_auth_method: "none",
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
      client_name: "Benchmark client",
    });

    collect();
    const before = process.memoryUsage().heapUsed;
    let created = 0;
    let lastRefreshToken = "";
    let lastGrantId = "";
    for (const count of counts) {
      for (; created < count; created++) {
        const grant = await createGrant(context, { clientId: client.client_id, scopes: ["mcp:read"], resource: RESOURCE, upstream: session });
        lastRefreshToken = (await issueTokens(context, grant, client, { scopes: grant.scopes, resource: RESOURCE })).refresh_token ?? "";
        lastGrantId = grant.id;
      }
      collect();
      (result.bytesPerGrant[count] ??= []).push((process.memoryUsage().heapUsed - before) / count);
    }
    if (store.size !== 2 * created + 1) {
      throw new Error(`The store contains ${store.size} entries instead of the expected ${2 * created + 1}, so entries were evicted`);
    }

    const storageKeys = [keys.grant(lastGrantId), keys.refresh(hashKey(lastRefreshToken))];
    let plaintext = 0;
    let stored = 0;
    for (const key of storageKeys) {
      plaintext += JSON.stringify(await context.storage.get(key)).length;
      stored += key.length + String(await store.get(key)).length;
    }
    result.plaintextBytes.push(plaintext);
    result.storedCharacters.push(stored);
    await store.close();
  }
  return result;
});

/**
 * Builds the context `oauthProxy()` builds (lib/proxy.ts), with the proxy's default encryption
 * and failure guard around `store`, so grants are created by the code path the token endpoint uses.
 */
function buildContext(provider: OAuthProvider, store: MemoryStore): ProxyContext {
  const options = resolveOptions({
    baseUrl: "http://127.0.0.1:3000",
    provider,
    secret: randomBytes(32),
    storage: store,
    scopes: ["mcp:read"],
    clientIdMetadataDocuments: false,
  });
  const derived = deriveKeys(options.secret);
  const storage = new GuardedStore(new EncryptedStore(store, [{ id: derived.keyId, key: derived.encryptionKey }]));
  return {
    options,
    storage,
    keys: derived,
    previousKeys: [],
    signingKeys: createSigningKeySet(options.jwt, [hmacTokenKey(derived)], storage, options.accessTokenTtl),
    verifiedTokens: new VerifiedTokenCache(options.jwt.verifiedTokenCacheSize),
    endpoints: buildEndpoints(options),
    clientIds: new ClientIdSealer([options.secret]),
    upstreamRefreshes: new Map(),
  };
}

/**
 * Gets one real upstream session from the fake upstream through `OAuthProvider`, as the
 * callback does: the code exchange (opaque tokens and an RS256 ID token) and the user-info
 * claims. Every grant stores a copy of it.
 */
async function upstreamSession(): Promise<{ provider: OAuthProvider; session: UpstreamSession }> {
  const upstream = await startFakeUpstream(CLIENT);
  try {
    const provider = new OAuthProvider({
      ...CLIENT,
      authorizationEndpoint: `${upstream.url}/authorize`,
      tokenEndpoint: `${upstream.url}/token`,
      userinfoEndpoint: `${upstream.url}/userinfo`,
      scopes: ["openid", "profile", "email", "offline_access"],
    });
    const pkce = createPkce();
    const redirectUri = "http://127.0.0.1:3000/oauth/callback";
    const authorization = await provider.authorizationUrl({ redirectUri, state: "bench", codeChallenge: pkce.challenge, scopes: ["mcp:read"] });
    const redirect = await fetch(authorization, { redirect: "manual" });
    const code = new URL(redirect.headers.get("location") ?? redirectUri).searchParams.get("code") ?? "";
    const tokens = await provider.exchangeCode({ code, codeVerifier: pkce.verifier, redirectUri });
    const identity = await provider.identify(tokens);
    return { provider, session: { tokens, subject: identity.subject, claims: identity.claims } };
  } finally {
    await upstream.close();
  }
}
