import type { Request, Response } from "express";
import createDebug from "debug";
import {
  readBrowserState,
  regenerateBrowserSession,
  saveBrowserSession,
  writeBrowserState,
} from "../browser-session.js";
import { createPkcePair } from "../core/pkce.js";
import { hashKey, randomToken, safeEqual } from "../core/random.js";
import type { ProxyContext } from "../context.js";
import { asyncHandler, buildClientRedirect, Params, redirect } from "../http.js";
import { renderErrorPage, sendPage } from "../pages.js";
import { keys } from "../records.js";
import type { FlowRecord, TransactionRecord } from "../records.js";
import { TRANSACTION_TTL } from "./authorize.js";

const debug = createDebug("mcp-oauth-proxy:consent");

/**
 * Creates `POST /consent`, which records the user's decision. The form must come
 * from this origin and from the browser that was shown the page, because the
 * transaction is listed in that browser's session. It must carry the page's
 * CSRF token, and each transaction is decided once.
 */
export function consentHandler(context: ProxyContext) {
  return asyncHandler(async (req: Request, res: Response) => {
    if (!sameOrigin(req, context.options.origin)) {
      rejectDecision(res, 403, "The approval was sent from another site.");
      return;
    }

    const params = Params.fromBody(req);
    const transactionId = params.get("transaction");
    const csrfToken = params.get("csrf_token");
    const decision = params.get("decision");
    if (transactionId === undefined || (decision !== "approve" && decision !== "deny")) {
      rejectDecision(res, 400, "The approval form is incomplete.");
      return;
    }

    // A decided transaction is gone from storage and from the session. Storage is checked
    // first, so a replayed decision gets 400 rather than the 403 meant for a foreign session.
    const idHash = hashKey(transactionId);
    const pending = (await context.storage.get(keys.transaction(idHash))) as TransactionRecord | undefined;
    if (pending === undefined) {
      rejectDecision(res, 400, "This authorization request expired or was already decided.");
      return;
    }

    const browser = readBrowserState(req);
    if (!browser.transactions.includes(idHash)) {
      rejectDecision(res, 403, "This approval does not belong to this browser session, or the session expired.");
      return;
    }
    if (csrfToken === undefined || !safeEqual(csrfToken, pending.csrfToken)) {
      rejectDecision(res, 403, "The approval form is not valid for this request.");
      return;
    }

    // take() makes the decision single-use, also against a concurrent double submit.
    const transaction = (await context.storage.take(keys.transaction(idHash))) as TransactionRecord | undefined;
    if (transaction === undefined) {
      rejectDecision(res, 400, "This authorization request was already decided.");
      return;
    }
    writeBrowserState(req, { ...browser, transactions: browser.transactions.filter((hash) => hash !== idHash) });

    if (decision === "deny") {
      await saveBrowserSession(req);
      debug("denied client=%s", transaction.clientId);
      redirect(res, buildClientRedirect(transaction.redirectUri, {
        error: "access_denied",
        error_description: "The user denied the request",
        state: transaction.state,
        iss: context.options.issuer,
      }), 303);
      return;
    }

    redirect(res, await startUpstreamSignIn(context, req, transaction), 303);
  });
}

/**
 * Starts the upstream leg with the proxy's own state and PKCE pair; the client's
 * state and code_challenge never leave the proxy. The upstream state is bound to
 * this browser's session, so a forwarded upstream link cannot complete elsewhere.
 */
async function startUpstreamSignIn(context: ProxyContext, req: Request, transaction: TransactionRecord): Promise<string> {
  const upstreamState = randomToken(32);
  const pkce = createPkcePair();
  const stateHash = hashKey(upstreamState);
  // The proxy's own scopes mean nothing upstream; without a configured list, requested scopes pass through.
  const upstreamScopes = context.options.scopes.length > 0 ? [] : transaction.scopes;
  const flow: FlowRecord = { transaction, upstreamCodeVerifier: pkce.verifier, upstreamScopes };
  await context.storage.set(keys.flow(stateHash), flow, TRANSACTION_TTL);

  await regenerateBrowserSession(req);
  const browser = readBrowserState(req);
  writeBrowserState(req, { ...browser, flows: [...browser.flows, stateHash] });
  await saveBrowserSession(req);

  const url = await context.options.provider.authorizationUrl({
    redirectUri: context.endpoints.callback.url,
    state: upstreamState,
    codeChallenge: pkce.challenge,
    scopes: upstreamScopes,
  });
  debug("approved client=%s", transaction.clientId);
  return url.href;
}

/**
 * Checks the Origin of the consent POST: a cross-site form POST carries the attacker's Origin. Browsers that omit
 * Origin still send SameSite=Lax cookies only on same-site POSTs, so the
 * session check catches those.
 */
function sameOrigin(req: Request, origin: string): boolean {
  const header = req.headers.origin;
  return header === undefined || header === origin;
}

function rejectDecision(res: Response, status: number, message: string): void {
  debug("rejected decision status=%d", status);
  sendPage(res, status, renderErrorPage("Approval rejected", message));
}
