import type { Request, Response } from "express";
import createDebug from "debug";
import { clientInformation, registerClient } from "../clients.js";
import type { ProxyContext } from "../context.js";
import { InvalidClientMetadataError, OAuthError } from "../errors.js";
import { asyncHandler, sendJson, sendOAuthError } from "../http.js";

const debug = createDebug("mcp-oauth-proxy:register");

/** `POST /register` (RFC 7591): dynamic client registration. */
export function registerHandler(context: ProxyContext) {
  return asyncHandler(async (req: Request, res: Response) => {
    try {
      if (!req.is("application/json")) {
        throw new InvalidClientMetadataError("The request body must be application/json");
      }

      const { client, clientSecret } = await registerClient(context, req.body);
      debug("registered client=%s method=%s", client.client_id, client.token_endpoint_auth_method);
      sendJson(res, 201, clientInformation(client, clientSecret));
    } catch (error) {
      if (!(error instanceof OAuthError)) {
        throw error;
      }
      debug("rejected registration error=%s", error.error);
      sendOAuthError(res, error);
    }
  });
}
