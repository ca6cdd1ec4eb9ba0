import type { Request, Response } from "express";
import createDebug from "debug";
import { readBrowserState, saveBrowserSession, writeBrowserState } from "../browser-session.js";
import { clientIdHost, isUrlClientId } from "../client-metadata/client-id-url.js";
import { ClientMetadataError } from "../client-metadata/resolver.js";
import { findClient } from "../clients.js";
import { isValidPkceValue } from "../core/pkce.js";
import { matchRedirectUri } from "../core/redirect-uri.js";
import { resolveResource } from "../core/resource.js";
import { hashKey, randomToken } from "../core/random.js";
import { parseScope } from "../core/scopes.js";
import type { ProxyContext } from "../context.js";
import {
  InvalidRequestError,
  InvalidScopeError,
  OAuthError,
  UnsupportedResponseTypeError,
} from "../errors.js";
import { asyncHandler, buildClientRedirect, Params, redirect } from "../http.js";
import { renderConsentPage, renderErrorPage, sendPage } from "../pages.js";
import { keys, nowSeconds } from "../records.js";
import type { ClientRecord, TransactionRecord } from "../records.js";

const debug = createDebug("mcp-oauth-proxy:authorize");

/** Seconds a user has to approve and finish the upstream sign-in. */
export const TRANSACTION_TTL = 600;

/** An error that must be shown to the user, never redirected: the redirect target is not trusted yet. */
class UntrustedRedirectError extends Error {}

/**
 * `GET /authorize`: validates the request, stores it as a transaction and shows
 * the consent page. Until the client and redirect URI are known good, errors are
 * shown as a page; after that they go back to the client (OAuth 2.1 §4.1.2.1).
 */
export function authorizeHandler(context: ProxyContext) {
  return asyncHandler(async (req: Request, res: Response) => {
    const params = Params.fromQuery(req);

    let client: ClientRecord;
    let redirectUri: string;
    try {
      ({ client, redirectUri } = await identifyClient(context, params));
    } catch (error) {
      if (error instanceof UntrustedRedirectError) {
        debug("rejected untrusted request reason=%s", error.message);
        sendPage(res, 400, renderErrorPage("Authorization request rejected", error.message));
        return;
      }
      throw error;
    }

    const state = params.isRepeated("state") ? undefined : params.get("state");
    try {
      const transaction = validateRequest(context, params, client, redirectUri, state);
      await showConsent(context, req, res, client, transaction);
    } catch (error) {
      if (!(error instanceof OAuthError) || error.status >= 500) {
        throw error;
      }
      debug("redirected error client=%s error=%s", client.client_id, error.error);
      redirect(res, buildClientRedirect(redirectUri, {
        error: error.error,
        error_description: error.toJSON().error_description,
        state,
        iss: context.options.issuer,
      }));
    }
  });
}

async function identifyClient(context: ProxyContext, params: Params): Promise<{ client: ClientRecord; redirectUri: string }> {
  if (params.isRepeated("client_id") || params.isRepeated("redirect_uri")) {
    throw new UntrustedRedirectError("The client_id or redirect_uri parameter is repeated.");
  }

  const client = await findClient(context, params.get("client_id")).catch((error: unknown) => {
    throw error instanceof ClientMetadataError ? new UntrustedRedirectError(error.message) : error;
  });
  if (client === undefined) {
    throw new UntrustedRedirectError("The application is not registered with this server (unknown client_id). It needs to register again.");
  }

  const requested = params.get("redirect_uri");
  if (requested === undefined) {
    // OAuth 2.1 §2.3.2: redirect_uri may be left out only when exactly one is registered.
    const only = client.redirect_uris.length === 1 ? client.redirect_uris[0] : undefined;
    if (only === undefined) {
      throw new UntrustedRedirectError("The redirect_uri parameter is required because the application registered several.");
    }
    return { client, redirectUri: only };
  }

  const redirectUri = matchRedirectUri(requested, client.redirect_uris);
  if (redirectUri === undefined) {
    throw new UntrustedRedirectError("The redirect_uri is not registered for this application.");
  }
  return { client, redirectUri };
}

function validateRequest(
  context: ProxyContext,
  params: Params,
  client: ClientRecord,
  redirectUri: string,
  state: string | undefined,
): TransactionRecord {
  const repeated = params.repeatedNames();
  if (repeated.length > 0) {
    throw new InvalidRequestError(`Repeated parameters: ${repeated.join(", ")}`);
  }

  const responseType = params.get("response_type");
  if (responseType === undefined) {
    throw new InvalidRequestError("The response_type parameter is missing");
  }
  if (responseType !== "code") {
    throw new UnsupportedResponseTypeError("Only response_type=code is supported");
  }

  const { codeChallenge, codeChallengeMethod } = readCodeChallenge(context, params);
  const resource = resolveResource(params.get("resource"), context.options.resources.map((entry) => entry.url));
  return {
    clientId: client.client_id,
    redirectUri,
    state,
    codeChallenge,
    codeChallengeMethod,
    scopes: readScopes(context, params.get("scope")),
    resource,
    csrfToken: randomToken(24),
    createdAt: nowSeconds(),
  };
}

function readCodeChallenge(context: ProxyContext, params: Params): Pick<TransactionRecord, "codeChallenge" | "codeChallengeMethod"> {
  const codeChallenge = params.get("code_challenge");
  if (codeChallenge === undefined) {
    throw new InvalidRequestError("code_challenge is required (PKCE with S256)");
  }

  // RFC 7636 §4.3: an omitted method means plain.
  const method = params.get("code_challenge_method") ?? "plain";
  if (method !== "S256" && !(method === "plain" && context.options.allowPlainPkce)) {
    throw new InvalidRequestError("code_challenge_method must be S256");
  }
  if (!isValidPkceValue(codeChallenge)) {
    throw new InvalidRequestError("code_challenge must be 43 to 128 characters of A-Z, a-z, 0-9, '-', '.', '_' or '~'");
  }
  return { codeChallenge, codeChallengeMethod: method };
}

/**
 * Reads the requested scopes. `offline_access` is dropped because refresh
 * tokens are issued anyway; with a configured scope list, anything else unknown
 * is `invalid_scope`.
 */
function readScopes(context: ProxyContext, value: string | undefined): string[] {
  const requested = parseScope(value);
  if (requested === undefined) {
    throw new InvalidScopeError("The scope parameter contains invalid characters");
  }

  const scopes = requested.filter((scope) => scope !== "offline_access");
  const allowed = context.options.scopes;
  if (allowed.length > 0) {
    const unknown = scopes.filter((scope) => !allowed.includes(scope));
    if (unknown.length > 0) {
      throw new InvalidScopeError(`Unknown scope: ${unknown.join(" ")}`);
    }
  }
  return scopes.length > 0 ? scopes : context.options.defaultScopes;
}

async function showConsent(
  context: ProxyContext,
  req: Request,
  res: Response,
  client: ClientRecord,
  transaction: TransactionRecord,
): Promise<void> {
  const transactionId = randomToken(24);
  const idHash = hashKey(transactionId);
  await context.storage.set(keys.transaction(idHash), transaction, TRANSACTION_TTL);

  const browser = readBrowserState(req);
  writeBrowserState(req, { ...browser, transactions: [...browser.transactions, idHash] });
  await saveBrowserSession(req);

  sendPage(res, 200, renderConsentPage({
    action: context.endpoints.consent.path,
    transactionId,
    csrfToken: transaction.csrfToken,
    clientName: client.client_name,
    clientId: client.client_id,
    clientIdHost: isUrlClientId(client.client_id) ? clientIdHost(client.client_id) : undefined,
    redirectUri: transaction.redirectUri,
    scopes: transaction.scopes,
    resource: transaction.resource,
    resourceName: context.options.resourceName,
    providerName: context.options.provider.name,
  }));
}
