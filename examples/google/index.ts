// Sign-in with Google in front of an MCP server.
//
//   GOOGLE_CLIENT_ID=... GOOGLE_CLIENT_SECRET=... npx tsx examples/google/index.ts
//
// Create an OAuth client of type "Web application" as docs/providers/google.md
// describes and add http://localhost:3000/oauth/callback to its authorized redirect
// URIs. Optional: GOOGLE_HOSTED_DOMAIN to admit one Workspace domain only, BASE_URL
// and PORT for another address, MCP_OAUTH_SECRET to keep tokens valid across restarts.
import express from "express";
import { GoogleProvider, oauthProxy } from "mcp-oauth-proxy";
import { mountMcpRoute, requireEnvironment } from "../shared/mcp-route.js";

const REQUIRED = {
  GOOGLE_CLIENT_ID: "the Client ID of the OAuth client (Google Cloud console, APIs & Services, Credentials)",
  GOOGLE_CLIENT_SECRET: "the Client secret of the same OAuth client",
};

requireEnvironment(REQUIRED, "This example signs users in at Google, so it needs a real OAuth client; docs/providers/google.md shows how to create one.");

const port = Number(process.env.PORT ?? 3000);
const baseUrl = process.env.BASE_URL ?? `http://localhost:${port}`;

const provider = new GoogleProvider({
  clientId: process.env.GOOGLE_CLIENT_ID as string,
  clientSecret: process.env.GOOGLE_CLIENT_SECRET as string,
  ...(process.env.GOOGLE_HOSTED_DOMAIN ? { hostedDomain: process.env.GOOGLE_HOSTED_DOMAIN } : {}),
});
const proxy = oauthProxy({ baseUrl, provider, secret: process.env.MCP_OAUTH_SECRET, resourceName: "Google example MCP server" });

const app = express();
app.use(proxy);

// One stateless MCP endpoint with a `whoami` tool that returns the identity from the verified Google ID token.
mountMcpRoute(app, "/mcp", "google-example", [proxy.bearer()], (mcp) => {
  mcp.registerTool("whoami", { description: "Returns your Google account: subject, email and name." }, async (extra) => {
    const upstream = extra.authInfo?.extra?.upstream as { subject: string; claims: Record<string, unknown> } | undefined;
    const { email, name } = upstream?.claims ?? {};
    return { content: [{ type: "text", text: JSON.stringify({ subject: upstream?.subject, email, name }) }] };
  });
});

// Loads Google's signing keys once, so a network problem shows here rather than at the first sign-in.
await provider.ready();
app.listen(port, "127.0.0.1", () => {
  console.log(`MCP endpoint:        ${baseUrl}/mcp`);
  console.log(`Google redirect URI: ${proxy.callbackUrl} (add it to the OAuth client's authorized redirect URIs)`);
});
