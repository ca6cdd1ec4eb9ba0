import type { Request, Response } from "express";
import createDebug from "debug";
import { hasBrowserState, readBrowserState, saveBrowserSession, writeBrowserState } from "../browser-session.js";
import { hashKey, randomToken } from "../core/random.js";
import type { ProxyContext } from "../context.js";
import { UpstreamError } from "../errors.js";
import { asyncHandler, buildClientRedirect, Params, redirect } from "../http.js";
import { renderErrorPage, sendPage } from "../pages.js";
import { keys, nowSeconds } from "../records.js";
import type { CodeRecord, FlowRecord, TransactionRecord, UpstreamSession } from "../records.js";

const debug = createDebug("mcp-oauth-proxy:callback");

/** Seconds an authorization code stays redeemable (OAuth 2.1 §4.1.2 recommends at most 10 minutes). */
export const CODE_TTL = 300;

/** Upstream authorization errors the user caused; everything else is the server's problem. */
const USER_ERRORS = new Set(["access_denied", "login_required", "consent_required", "interaction_required", "account_selection_required"]);

/**
 * `GET /oauth/callback`: the upstream redirect target. Exchanges the upstream
 * code server to server, keeps the upstream tokens, and sends the client its
 * own single-use code with the client's state and the proxy's `iss`.
 */
export function callbackHandler(context: ProxyContext) {
  return asyncHandler(async (req: Request, res: Response) => {
    const params = Params.fromQuery(req);
    if (params.repeatedNames().length > 0) {
      rejectCallback(res, "The sign-in response has repeated parameters.");
      return;
    }

    const upstreamState = params.get("state");
    if (upstreamState === undefined) {
      rejectCallback(res, "The sign-in response has no state parameter.");
      return;
    }

    const stateHash = hashKey(upstreamState);
    const browser = readBrowserState(req);
    if (!browser.flows.includes(stateHash)) {
      await rejectForeignFlow(context, req, res, stateHash);
      return;
    }

    const expectedIssuer = await responseIssuer(context);
    if (expectedIssuer !== undefined && params.get("iss") !== expectedIssuer) {
      // RFC 9207 §2.4: a missing or different iss may be a mix-up attack; the code is not redeemed.
      rejectCallback(res, "The sign-in response did not come from the expected identity provider.");
      return;
    }

    const flow = (await context.storage.take(keys.flow(stateHash))) as FlowRecord | undefined;
    writeBrowserState(req, { ...browser, flows: browser.flows.filter((hash) => hash !== stateHash) });
    await saveBrowserSession(req);
    if (flow === undefined) {
      rejectCallback(res, "This sign-in response was already used or it expired.");
      return;
    }

    const transaction = flow.transaction;
    const upstreamError = params.get("error");
    const upstreamCode = params.get("code");
    if (upstreamError !== undefined || upstreamCode === undefined) {
      debug("upstream returned an error client=%s error=%s", transaction.clientId, upstreamError ?? "no code");
      const error = upstreamError !== undefined && USER_ERRORS.has(upstreamError) ? "access_denied" : "server_error";
      redirectError(context, res, transaction, error, error === "access_denied" ? "The sign-in was not completed" : "The identity provider returned an error");
      return;
    }

    let session: UpstreamSession;
    try {
      session = await signIn(context, flow, upstreamCode, params.get("iss"));
    } catch (error) {
      if (!(error instanceof UpstreamError)) {
        throw error;
      }
      debug("upstream sign-in failed client=%s failure=%s message=%s", transaction.clientId, error.failure, error.message);
      const code = error.failure === "unavailable" ? "temporarily_unavailable" : "server_error";
      redirectError(context, res, transaction, code, "The sign-in at the identity provider could not be completed");
      return;
    }

    const code = await issueCode(context, transaction, session);
    debug("issued code client=%s", transaction.clientId);
    redirect(res, buildClientRedirect(transaction.redirectUri, { code, state: transaction.state, iss: context.options.issuer }));
  });
}

async function responseIssuer(context: ProxyContext): Promise<string | undefined> {
  try {
    return await context.options.provider.responseIssuer();
  } catch (error) {
    debug("could not read the upstream issuer error=%s", error instanceof Error ? error.message : String(error));
    return undefined;
  }
}

async function signIn(context: ProxyContext, flow: FlowRecord, code: string, iss: string | undefined): Promise<UpstreamSession> {
  const provider = context.options.provider;
  const tokens = await provider.exchangeCode({
    code,
    codeVerifier: flow.upstreamCodeVerifier,
    redirectUri: context.endpoints.callback.url,
    ...(iss === undefined ? {} : { iss }),
  });
  const identity = await provider.identify(tokens);
  return { tokens, subject: identity.subject, claims: identity.claims };
}

async function issueCode(context: ProxyContext, transaction: TransactionRecord, upstream: UpstreamSession): Promise<string> {
  const code = randomToken(32);
  const record: CodeRecord = {
    clientId: transaction.clientId,
    redirectUri: transaction.redirectUri,
    codeChallenge: transaction.codeChallenge,
    codeChallengeMethod: transaction.codeChallengeMethod,
    scopes: transaction.scopes,
    resource: transaction.resource,
    upstream,
    expiresAt: nowSeconds() + CODE_TTL,
  };
  await context.storage.set(keys.code(hashKey(code)), record, CODE_TTL);
  return code;
}

function redirectError(context: ProxyContext, res: Response, transaction: TransactionRecord, error: string, description: string): void {
  redirect(res, buildClientRedirect(transaction.redirectUri, {
    error,
    error_description: description,
    state: transaction.state,
    iss: context.options.issuer,
  }));
}

/**
 * A browser that has a proxy session and brings the live state of another
 * browser's flow gets 403: someone forwarded, or planted, a sign-in link.
 * Without a session, or with a state that matches no live flow, it is a 400.
 * The other browser's flow is left intact, so its owner can still finish.
 */
async function rejectForeignFlow(context: ProxyContext, req: Request, res: Response, stateHash: string): Promise<void> {
  const message = "This sign-in was started in another browser, or it expired. Sign-in links cannot be forwarded.";
  if (hasBrowserState(req) && (await context.storage.get(keys.flow(stateHash))) !== undefined) {
    rejectCallback(res, message, 403);
    return;
  }
  rejectCallback(res, message);
}

function rejectCallback(res: Response, message: string, status = 400): void {
  debug("rejected callback status=%d reason=%s", status, message);
  sendPage(res, status, renderErrorPage("Sign-in failed", message));
}
