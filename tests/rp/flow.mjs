// A certified third-party relying party (openid-client 6, certified by the
// OpenID Foundation) run against qrlogin by tests/api/third_party_rp.rs.
//
//   node flow.mjs --issuer URL --client-id ID --redirect-uri URL \
//                 [--client-secret SECRET] [--auth basic|post]
//
// Without --client-secret it is a public client (token_endpoint_auth_method
// "none"). It prints {"authorization_url": …} as one JSON line, reads the URL
// the browser was sent back to (one line) from stdin, then runs the code
// grant, userinfo, a refresh, revocation and their checks, and prints one
// JSON line with what it saw. Anything the library refuses ends the process
// with a non-zero status and the error on stderr: the library is the judge.
import * as client from 'openid-client';
import { createInterface } from 'node:readline';
import { inspect, parseArgs } from 'node:util';

// A refusal prints its whole error (the OAuth error code, the response body
// and the cause) on stderr, and the exit status is 1.
process.on('uncaughtException', (err) => {
  process.stderr.write(`openid-client refused: ${inspect(err, { depth: 4 })}\n`);
  process.exitCode = 1;
});

const { values: args } = parseArgs({
  options: {
    issuer: { type: 'string' },
    'client-id': { type: 'string' },
    'client-secret': { type: 'string' },
    'redirect-uri': { type: 'string' },
    auth: { type: 'string', default: 'basic' },
  },
});
for (const required of ['issuer', 'client-id', 'redirect-uri']) {
  if (!args[required]) throw new Error(`--${required} is required`);
}

const secret = args['client-secret'];
let clientAuth;
if (secret === undefined) clientAuth = client.None();
else if (args.auth === 'post') clientAuth = client.ClientSecretPost(secret);
else if (args.auth === 'basic') clientAuth = client.ClientSecretBasic(secret);
else throw new Error(`--auth must be basic or post, not ${args.auth}`);

const issuer = new URL(args.issuer);
// Plain http is allowed only for a loopback issuer (the tests' servers).
const loopback = ['127.0.0.1', 'localhost', '[::1]'].includes(issuer.hostname);
const config = await client.discovery(
  issuer,
  args['client-id'],
  secret === undefined ? undefined : { client_secret: secret },
  clientAuth,
  loopback && issuer.protocol === 'http:'
    ? { execute: [client.allowInsecureRequests] }
    : undefined,
);
// By default openid-client checks an ID token's claims and alg but not its
// signature (it came straight from the token endpoint over TLS); this makes it
// verify the signature against the JWKS too, as the checks below say it does.
client.enableNonRepudiationChecks(config);
const metadata = config.serverMetadata();

const codeVerifier = client.randomPKCECodeVerifier();
const nonce = client.randomNonce();
const state = client.randomState();
const authorizationUrl = client.buildAuthorizationUrl(config, {
  redirect_uri: args['redirect-uri'],
  scope: 'openid profile offline_access',
  code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
  code_challenge_method: 'S256',
  nonce,
  state,
  // OIDC Core 11: offline_access is ignored unless consent is prompted.
  prompt: 'consent',
});
console.log(JSON.stringify({ authorization_url: authorizationUrl.href }));

const input = createInterface({ input: process.stdin });
const { value: callback, done } = await input[Symbol.asyncIterator]().next();
input.close();
if (done || !callback) throw new Error('no callback URL on stdin');
const callbackUrl = new URL(callback.trim());

// Checks the redirect URI, state, iss (RFC 9207, required when the metadata
// says it is supported), then the token response and the ID token: its
// signature against the JWKS, iss, aud, azp, exp, iat and the nonce.
const tokens = await client.authorizationCodeGrant(config, callbackUrl, {
  pkceCodeVerifier: codeVerifier,
  expectedNonce: nonce,
  expectedState: state,
  idTokenExpected: true,
});
const claims = tokens.claims();
if (!tokens.refresh_token) throw new Error('no refresh_token despite offline_access');

// Checks the response's sub is the ID token's.
const userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub);

let introspection = null;
if (secret !== undefined && metadata.introspection_endpoint) {
  introspection = await client.tokenIntrospection(config, tokens.access_token);
}

const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
if (!refreshed.refresh_token) throw new Error('the refresh answered no new refresh_token');
const refreshedClaims = refreshed.claims() ?? null;

await client.tokenRevocation(config, refreshed.refresh_token);

// Both must now be refused: the old token because it was rotated, the new
// one because it was revoked.
const refused = async (token) => {
  try {
    await client.refreshTokenGrant(config, token);
    return false;
  } catch (err) {
    if (err instanceof client.ResponseBodyError && err.error === 'invalid_grant') return true;
    throw err;
  }
};

console.log(JSON.stringify({
  claims,
  userinfo,
  introspection,
  refreshed_claims: refreshedClaims,
  scope: tokens.scope ?? null,
  token_type: tokens.token_type,
  checks: {
    discovery_issuer: metadata.issuer === args.issuer,
    iss_in_authorization_response: callbackUrl.searchParams.get('iss') === metadata.issuer,
    state: true,
    pkce: true,
    nonce: claims.nonce === nonce,
    id_token_verified: true,
    userinfo_sub: userinfo.sub === claims.sub,
    refresh_token_rotated: refreshed.refresh_token !== tokens.refresh_token,
    revoked_refresh_token_refused: await refused(refreshed.refresh_token),
    rotated_refresh_token_refused: await refused(tokens.refresh_token),
  },
}));
