import { setTimeout as sleep } from "node:timers/promises";
import createDebug from "debug";
import { randomToken } from "./core/random.js";
import type { ProxyContext } from "./context.js";
import { InvalidGrantError, UpstreamError } from "./errors.js";
import type { UpstreamTokens } from "./providers/types.js";
import { keys, nowSeconds } from "./records.js";
import type { GrantRecord, UpstreamSession } from "./records.js";

const debug = createDebug("mcp-oauth-proxy:grant");

/** Seconds before its expiry at which an upstream access token counts as expired. */
const UPSTREAM_EXPIRY_MARGIN = 30;
/** How long one instance may hold the upstream refresh lock of a grant. */
const REFRESH_LOCK_TTL = 30;
/** How long an instance that lost the lock waits for the winner's result. */
const REFRESH_WAIT_MS = 15_000;
const REFRESH_POLL_MS = 100;

/** Creates a grant for a redeemed code and stores it for `refreshTokenTtl` seconds. */
export async function createGrant(
  context: ProxyContext,
  input: { clientId: string; scopes: string[]; resource: string; upstream: UpstreamSession },
  grantId = randomToken(16),
): Promise<GrantRecord> {
  const now = nowSeconds();
  const grant: GrantRecord = {
    id: grantId,
    ...input,
    createdAt: now,
    expiresAt: now + context.options.refreshTokenTtl,
  };
  await writeGrant(context, grant, context.options.refreshTokenTtl);
  debug("created grant=%s client=%s", grant.id, grant.clientId);
  return grant;
}

/** Loads a live grant, or `undefined` once it was revoked or expired. */
export async function loadGrant(context: ProxyContext, grantId: string): Promise<GrantRecord | undefined> {
  return (await context.storage.get(keys.grant(grantId))) as GrantRecord | undefined;
}

/** Stores a changed grant, keeping its expiry; throws `GrantRevokedError` when it was revoked meanwhile. */
export async function saveGrant(context: ProxyContext, grant: GrantRecord): Promise<void> {
  const ttl = grant.expiresAt - nowSeconds();
  if (ttl > 0) {
    await writeGrant(context, grant, ttl);
  }
}

/** A grant was revoked while a refresh or redemption was writing it, so the write was undone. */
export class GrantRevokedError extends InvalidGrantError {
  constructor() {
    super("The grant was revoked");
  }
}

/**
 * Writes a grant, then checks for a revocation marker. Storage has no
 * conditional write, so a refresh that loaded the grant before a revocation
 * would otherwise bring it back; the marker is written before the grant is
 * removed, so one of the two sides always detects the other.
 */
async function writeGrant(context: ProxyContext, grant: GrantRecord, ttlSeconds: number): Promise<void> {
  await context.storage.set(keys.grant(grant.id), grant, ttlSeconds);
  if ((await context.storage.get(keys.revokedGrant(grant.id))) !== undefined) {
    await context.storage.delete(keys.grant(grant.id));
    throw new GrantRevokedError();
  }
}

/**
 * Ends a grant: every access and refresh token issued under it stops working on
 * its next use, and the upstream grant is revoked where the provider supports it.
 */
export async function revokeGrant(context: ProxyContext, grantId: string, reason: string): Promise<void> {
  await context.storage.set(keys.revokedGrant(grantId), reason, context.options.refreshTokenTtl);
  const grant = (await context.storage.take(keys.grant(grantId))) as GrantRecord | undefined;
  if (grant === undefined) {
    return;
  }

  debug("revoked grant=%s client=%s reason=%s", grant.id, grant.clientId, reason);
  await revokeUpstream(context, grant.id, grant.upstream.tokens);
}

async function revokeUpstream(context: ProxyContext, grantId: string, tokens: UpstreamTokens): Promise<void> {
  try {
    await context.options.provider.revoke(tokens);
  } catch (error) {
    // The proxy grant is gone either way; an upstream that is down keeps its tokens until they expire.
    debug("upstream revocation failed grant=%s error=%s", grantId, describe(error));
  }
}

/** Checks whether the upstream access token has expired or is about to. */
export function upstreamExpired(grant: GrantRecord, now = nowSeconds()): boolean {
  const expiresAt = grant.upstream.tokens.expiresAt;
  return expiresAt !== undefined && expiresAt - UPSTREAM_EXPIRY_MARGIN <= now;
}

/**
 * Refreshes the grant's upstream tokens, once per grant however many requests
 * ask at the same time: in this process through a shared promise, across
 * instances through a short storage lock. An upstream `invalid_grant` ends the
 * grant; other failures throw `UpstreamError` and keep it.
 */
export function refreshUpstream(context: ProxyContext, grant: GrantRecord): Promise<GrantRecord> {
  const running = context.upstreamRefreshes.get(grant.id);
  if (running !== undefined) {
    return running;
  }

  const refresh = refreshUpstreamOnce(context, grant).finally(() => {
    context.upstreamRefreshes.delete(grant.id);
  });
  context.upstreamRefreshes.set(grant.id, refresh);
  return refresh;
}

async function refreshUpstreamOnce(context: ProxyContext, grant: GrantRecord): Promise<GrantRecord> {
  const lockKey = keys.upstreamRefreshLock(grant.id);
  if (!(await context.storage.add(lockKey, 1, REFRESH_LOCK_TTL))) {
    return waitForOtherRefresh(context, grant);
  }

  try {
    const current = await loadGrant(context, grant.id);
    if (current === undefined) {
      throw new UpstreamError("invalid_grant", "The grant was revoked during the upstream refresh");
    }
    if (current.upstream.tokens.accessToken !== grant.upstream.tokens.accessToken) {
      return current;
    }

    const tokens = await context.options.provider.refresh(current.upstream.tokens);
    const updated: GrantRecord = { ...current, upstream: { ...current.upstream, tokens } };
    try {
      await saveGrant(context, updated);
    } catch (error) {
      if (!(error instanceof GrantRevokedError)) {
        throw error;
      }
      // The revocation revoked the old upstream tokens; the ones just issued must not outlive it.
      await revokeUpstream(context, grant.id, tokens);
      throw new UpstreamError("invalid_grant", "The grant was revoked during the upstream refresh");
    }
    debug("refreshed upstream grant=%s", grant.id);
    return updated;
  } catch (error) {
    if (error instanceof UpstreamError && error.failure === "invalid_grant") {
      await revokeGrant(context, grant.id, "upstream refresh returned invalid_grant");
    }
    throw error;
  } finally {
    await context.storage.delete(lockKey);
  }
}

/** Waits for the instance holding the lock to store new upstream tokens. */
async function waitForOtherRefresh(context: ProxyContext, grant: GrantRecord): Promise<GrantRecord> {
  const deadline = Date.now() + REFRESH_WAIT_MS;
  while (Date.now() < deadline) {
    await sleep(REFRESH_POLL_MS);
    // Read the lock before the grant: the winner saves the grant before it releases the lock.
    const lockHeld = (await context.storage.get(keys.upstreamRefreshLock(grant.id))) !== undefined;
    const current = await loadGrant(context, grant.id);
    if (current === undefined) {
      throw new UpstreamError("invalid_grant", "The grant was revoked during the upstream refresh");
    }
    if (current.upstream.tokens.accessToken !== grant.upstream.tokens.accessToken) {
      return current;
    }
    if (!lockHeld) {
      throw new UpstreamError("unavailable", "Another instance's upstream refresh failed");
    }
  }
  throw new UpstreamError("unavailable", "Timed out waiting for another instance to refresh the upstream tokens");
}

function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
