// A real OpenID Connect provider (npm oidc-provider) for the browser tests, on 127.0.0.1
// and a free port. Usage: node oidc-provider.mjs REDIRECT_URI. Prints one JSON line with
// the issuer, client id and secret once it listens; stops when its parent closes stdin.
import { createServer } from 'node:http';
import Provider from 'oidc-provider';

const [redirectUri] = process.argv.slice(2);
if (!redirectUri) throw new Error('usage: node oidc-provider.mjs REDIRECT_URI');
const client = { client_id: 'wukong-e2e', client_secret: 'wukong-e2e-client-secret' };

const server = createServer();
await new Promise((listening) => server.listen(0, '127.0.0.1', listening));
const issuer = `http://127.0.0.1:${server.address().port}`;

const provider = new Provider(issuer, {
  clients: [{ ...client, redirect_uris: [redirectUri], grant_types: ['authorization_code'], response_types: ['code'] }],
  pkce: { required: () => true },
  // Put the scope's claims (email, name) in the ID token, which is all Wukong reads.
  conformIdTokenClaims: false,
  claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
  findAccount: async (_ctx, id) => ({
    accountId: id,
    claims: async () => ({ sub: id, email: `${id}@idp.test`, email_verified: true, name: `User ${id}` }),
  }),
  features: { devInteractions: { enabled: true } },
  cookies: { keys: ['wukong-e2e-cookie-key'] },
});
server.on('request', provider.callback());
console.log(JSON.stringify({ issuer, ...client }));
process.stdin.resume();
process.stdin.on('end', () => server.close(() => process.exit(0)));
