import type { Request, Response } from "express";
import createDebug from "debug";
import { setTimeout as sleep } from "node:timers/promises";
import { authenticateClient, findClient } from "../clients.js";
import type { AuthenticatedClient } from "../clients.js";
import { isValidPkceValue, verifyS256 } from "../core/pkce.js";
import { hashKey, randomToken, safeEqual } from "../core/random.js";
import { resolveResource } from "../core/resource.js";
import { parseScope } from "../core/scopes.js";
import type { ProxyContext } from "../context.js";
import {
  InvalidGrantError,
  InvalidRequestError,
  InvalidScopeError,
  InvalidTargetError,
  OAuthError,
  toClientError,
  UnauthorizedClientError,
  UnsupportedGrantTypeError,
  UpstreamError,
} from "../errors.js";
import { createGrant, loadGrant, refreshUpstream, revokeGrant, saveGrant, upstreamExpired } from "../grants.js";
import { asyncHandler, Params, sendJson, sendOAuthError } from "../http.js";
import { keys, nowSeconds } from "../records.js";
import type {
  CodeRecord,
  GrantRecord,
  RedeemedCodeRecord,
  RefreshRecord,
  RefreshSuccessorRecord,
  RotatedRefreshRecord,
} from "../records.js";
import { issueTokens } from "../tokens.js";
import type { TokenResponse } from "../tokens.js";

const debug = createDebug("mcp-oauth-proxy:token");

/** How long a redeemed code is remembered so a replay can be detected. */
const REDEEMED_CODE_TTL = 3600;

/** `POST /token`: the authorization_code and refresh_token grants. */
export function tokenHandler(context: ProxyContext) {
  return asyncHandler(async (req: Request, res: Response) => {
    let authenticated: AuthenticatedClient | undefined;
    try {
      requireFormBody(req);
      const params = Params.fromBody(req);
      const grantType = params.get("grant_type");
      if (grantType === undefined) {
        throw new InvalidRequestError("The grant_type parameter is missing");
      }

      authenticated = await authenticateClient(context, {
        authorization: req.headers.authorization,
        clientId: params.get("client_id"),
        clientSecret: params.get("client_secret"),
      });
      const response = await runGrant(context, grantType, params, authenticated);
      sendJson(res, 200, response);
    } catch (error) {
      if (!(error instanceof OAuthError)) {
        throw error;
      }
      debug("rejected grant error=%s detail=%s", error.error, error.detail ?? error.message);
      sendOAuthError(res, error, authenticated?.usedBasic === false ? {} : { basicRealm: context.options.issuer });
    }
  });
}

/** Rejects anything but a form body: OAuth 2.1 §3.2.2 defines the token request as form-encoded. */
export function requireFormBody(req: Request): void {
  if (!req.is("application/x-www-form-urlencoded")) {
    throw new InvalidRequestError("The request body must be application/x-www-form-urlencoded");
  }
}

async function runGrant(context: ProxyContext, grantType: string, params: Params, authenticated: AuthenticatedClient): Promise<TokenResponse> {
  const client = authenticated.client;
  if (grantType === "authorization_code") {
    return redeemCode(context, params, authenticated);
  }
  if (grantType === "refresh_token") {
    if (!client.grant_types.includes("refresh_token")) {
      throw new UnauthorizedClientError("This client did not register the refresh_token grant");
    }
    return redeemRefreshToken(context, params, authenticated);
  }
  if (grantType === "client_credentials") {
    throw new UnauthorizedClientError("The client_credentials grant is not available to this client");
  }
  throw new UnsupportedGrantTypeError("Only the authorization_code and refresh_token grants are supported");
}

/** Redeems an authorization code (OAuth 2.1 §4.1.3). A code is bound to its client, redirect URI, PKCE challenge and resource, and is single use. */
async function redeemCode(context: ProxyContext, params: Params, { client }: AuthenticatedClient): Promise<TokenResponse> {
  const code = params.require("code");
  const verifier = params.get("code_verifier");
  if (verifier === undefined) {
    throw new InvalidRequestError("The code_verifier parameter is missing");
  }
  if (!isValidPkceValue(verifier)) {
    throw new InvalidRequestError("code_verifier must be 43 to 128 characters of A-Z, a-z, 0-9, '-', '.', '_' or '~'");
  }

  const codeHash = hashKey(code);
  const record = (await context.storage.get(keys.code(codeHash))) as CodeRecord | undefined;
  if (record === undefined) {
    await handleCodeReplay(context, codeHash, verifier, client.client_id);
    throw new InvalidGrantError("The authorization code is invalid, expired or already used");
  }

  checkCode(record, params, verifier, client.client_id);
  const resource = params.get("resource") === undefined ? record.resource : resolveResource(params.get("resource"), [record.resource]);

  // take() decides the race between two redemptions: exactly one gets the record. Two redemptions that
  // both proved possession are a replay even when they arrive together, so the loser revokes the winner's grant.
  if ((await context.storage.take(keys.code(codeHash))) === undefined) {
    await handleCodeReplay(context, codeHash, verifier, client.client_id, { wait: true });
    throw new InvalidGrantError("The authorization code was already used");
  }

  const grantId = randomToken(16);
  const redeemed: RedeemedCodeRecord = {
    grantId,
    clientId: client.client_id,
    codeChallenge: record.codeChallenge,
    codeChallengeMethod: record.codeChallengeMethod,
  };
  await context.storage.set(keys.redeemedCode(codeHash), redeemed, REDEEMED_CODE_TTL);

  const grant = await createGrant(context, {
    clientId: client.client_id,
    scopes: record.scopes,
    resource: record.resource,
    upstream: record.upstream,
  }, grantId);
  debug("redeemed code client=%s grant=%s", client.client_id, grant.id);
  return issueTokens(context, grant, client, { scopes: record.scopes, resource });
}

function checkCode(record: CodeRecord, params: Params, verifier: string, clientId: string): void {
  if (record.clientId !== clientId) {
    throw new InvalidGrantError("The authorization code was issued to another client");
  }
  if (record.expiresAt < nowSeconds()) {
    throw new InvalidGrantError("The authorization code expired");
  }

  const redirectUri = params.get("redirect_uri");
  if (redirectUri !== undefined && redirectUri !== record.redirectUri) {
    throw new InvalidGrantError("The redirect_uri differs from the one in the authorization request");
  }
  if (!verifyChallenge(verifier, record.codeChallenge, record.codeChallengeMethod)) {
    throw new InvalidGrantError("The code_verifier does not match the code_challenge");
  }
}

function verifyChallenge(verifier: string, challenge: string, method: "S256" | "plain"): boolean {
  return method === "S256" ? verifyS256(verifier, challenge) : safeEqual(verifier, challenge);
}

/**
 * A code redeemed twice was probably stolen, and OAuth 2.1 §4.1.3 requires
 * revoking what the first redemption issued. Only a replay that proves possession (the
 * right client and code_verifier) triggers it, so a guessed code cannot end
 * someone else's session.
 */
async function handleCodeReplay(
  context: ProxyContext,
  codeHash: string,
  verifier: string,
  clientId: string,
  options: { wait: boolean } = { wait: false },
): Promise<void> {
  const redeemed = await pollFor(() => context.storage.get(keys.redeemedCode(codeHash)) as Promise<RedeemedCodeRecord | undefined>, options.wait);
  if (redeemed === undefined || redeemed.clientId !== clientId) {
    return;
  }
  if (verifyChallenge(verifier, redeemed.codeChallenge, redeemed.codeChallengeMethod)) {
    await revokeGrant(context, redeemed.grantId, "authorization code replayed");
  }
}

/** Redeems a refresh token (OAuth 2.1 §4.3) and rotates it. Reuse of a rotated token after the grace window ends the grant. */
async function redeemRefreshToken(context: ProxyContext, params: Params, { client }: AuthenticatedClient): Promise<TokenResponse> {
  const tokenHash = hashKey(params.require("refresh_token"));
  const record = (await context.storage.get(keys.refresh(tokenHash))) as RefreshRecord | undefined;
  if (record === undefined) {
    return answerRotatedToken(context, params, tokenHash, client.client_id);
  }
  if (record.clientId !== client.client_id) {
    throw new InvalidGrantError("The refresh token was issued to another client");
  }

  const scopes = narrowScopes(record.scopes, params.get("scope"));
  const resource = resolveRefreshResource(record.resource, params.get("resource"));
  let grant = await loadGrant(context, record.grantId);
  if (grant === undefined) {
    throw new InvalidGrantError("The grant behind this refresh token was revoked");
  }
  grant = await renewUpstream(context, grant);

  // The rotation marker goes first, so a request that finds the token gone always finds the marker and
  // its time. A refresh that loses take() to a concurrent one is treated as a retry and gets the winner's successor.
  const rotated: RotatedRefreshRecord = { grantId: grant.id, clientId: client.client_id, rotatedAt: Date.now() };
  await context.storage.set(keys.rotatedRefresh(tokenHash), rotated, context.options.refreshTokenTtl);
  if ((await context.storage.take(keys.refresh(tokenHash))) === undefined) {
    return answerRotatedToken(context, params, tokenHash, client.client_id);
  }

  // Each rotation restarts the idle window of the grant.
  grant = { ...grant, expiresAt: nowSeconds() + context.options.refreshTokenTtl };
  await saveGrant(context, grant);
  const response = await issueTokens(context, grant, client, { scopes, resource });
  if (context.options.refreshGraceSeconds > 0 && response.refresh_token !== undefined) {
    const successor: RefreshSuccessorRecord = { refreshToken: response.refresh_token };
    await context.storage.set(keys.refreshSuccessor(tokenHash), successor, context.options.refreshGraceSeconds);
  }
  return response;
}

/**
 * Handles a refresh token that was already rotated. Inside the grace window the
 * client gets a new access token and the same successor refresh token, because
 * parallel or retried refreshes are common and must not sign the user out.
 * After it, the token was presented twice by someone: OAuth 2.1 §4.3.1 says to
 * revoke the whole grant, since either the client or an attacker holds a copy.
 */
async function answerRotatedToken(context: ProxyContext, params: Params, tokenHash: string, clientId: string): Promise<TokenResponse> {
  const rotated = (await context.storage.get(keys.rotatedRefresh(tokenHash))) as RotatedRefreshRecord | undefined;
  if (rotated === undefined || rotated.clientId !== clientId) {
    throw new InvalidGrantError("The refresh token is invalid, expired or already used");
  }

  // Inside the window the rotation that wrote the marker may still be writing its successor.
  const inWindow = Date.now() - rotated.rotatedAt <= context.options.refreshGraceSeconds * 1000;
  const successor = await findLiveSuccessor(context, tokenHash, inWindow);
  const grant = successor === undefined ? undefined : await loadGrant(context, rotated.grantId);
  const client = await findClient(context, clientId);
  if (successor === undefined || grant === undefined || client === undefined) {
    if (!inWindow) {
      await revokeGrant(context, rotated.grantId, "rotated refresh token reused");
    }
    throw new InvalidGrantError("The refresh token was already used");
  }

  const scopes = narrowScopes(successor.record.scopes, params.get("scope"));
  const resource = resolveRefreshResource(successor.record.resource, params.get("resource"));
  debug("answered a retried refresh client=%s grant=%s", clientId, grant.id);
  return issueTokens(context, grant, client, { scopes, resource }, successor.refreshToken);
}

/** Polling bounds for a request that waits for a concurrent request's result. */
const WAIT_MS = 2000;
const POLL_MS = 25;

/** Reads a record once, or polls for up to two seconds when `wait` is set. */
async function pollFor<T>(read: () => Promise<T | undefined>, wait: boolean): Promise<T | undefined> {
  const deadline = Date.now() + (wait ? WAIT_MS : 0);
  for (;;) {
    const value = await read();
    if (value !== undefined || Date.now() >= deadline) {
      return value;
    }
    await sleep(POLL_MS);
  }
}

async function findLiveSuccessor(
  context: ProxyContext,
  tokenHash: string,
  wait: boolean,
): Promise<{ refreshToken: string; record: RefreshRecord } | undefined> {
  const successor = await pollFor(() => context.storage.get(keys.refreshSuccessor(tokenHash)) as Promise<RefreshSuccessorRecord | undefined>, wait);
  if (successor === undefined) {
    return undefined;
  }

  // A successor that was itself rotated or revoked is no longer a family member to hand out.
  const record = (await context.storage.get(keys.refresh(hashKey(successor.refreshToken)))) as RefreshRecord | undefined;
  return record === undefined ? undefined : { refreshToken: successor.refreshToken, record };
}

/**
 * Refreshes the upstream tokens when the upstream grant can be refreshed, so a
 * grant revoked upstream ends here too (MCP 2025-03-26, session binding).
 */
async function renewUpstream(context: ProxyContext, grant: GrantRecord): Promise<GrantRecord> {
  const tokens = grant.upstream.tokens;
  if (tokens.refreshToken === undefined) {
    if (upstreamExpired(grant)) {
      await revokeGrant(context, grant.id, "upstream token expired and cannot be refreshed");
      throw new InvalidGrantError("The sign-in at the identity provider expired; sign in again");
    }
    return grant;
  }

  try {
    return await refreshUpstream(context, grant);
  } catch (error) {
    if (error instanceof UpstreamError) {
      throw toClientError(error);
    }
    throw error;
  }
}

/** OAuth 2.1 §4.3.1: a refresh may ask for fewer scopes, never more. */
function narrowScopes(granted: string[], requested: string | undefined): string[] {
  if (requested === undefined) {
    return granted;
  }

  const scopes = parseScope(requested);
  if (scopes === undefined || scopes.some((scope) => !granted.includes(scope))) {
    throw new InvalidScopeError("A refresh may only ask for scopes already granted");
  }
  return scopes.length > 0 ? scopes : granted;
}

function resolveRefreshResource(granted: string, requested: string | undefined): string {
  if (requested === undefined) {
    return granted;
  }
  try {
    return resolveResource(requested, [granted]);
  } catch {
    throw new InvalidTargetError("The resource is outside this grant");
  }
}
