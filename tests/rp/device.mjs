// A TV app logging in with the Device Authorization Grant (RFC 8628) through
// a certified third-party library (openid-client 6), run against qrlogin by
// tests/api/device_clients.rs.
//
//   node device.mjs --issuer URL --client-id ID [--client-secret SECRET]
//                   [--scope "openid profile offline_access"] [--wait SECONDS]
//
// It prints the device authorization response as one JSON line (what a TV
// would show: the user code and the verification URIs), polls the token
// endpoint the way openid-client does (waiting `interval` before each
// request, 5 s more after a slow_down), then prints one JSON line with the
// token response, the ID token's claims and, when a refresh token came, a
// refresh's. --wait sends qrlogin's `wait` extension as an additional
// parameter of every poll; without it the polls are plain RFC 8628.
// Anything the library refuses ends the process with a non-zero status and
// the error on stderr: the library is the judge.
import * as client from 'openid-client';
import { inspect, parseArgs } from 'node:util';

process.on('uncaughtException', (err) => {
  process.stderr.write(`openid-client refused: ${inspect(err, { depth: 4 })}\n`);
  process.exitCode = 1;
});

const { values: args } = parseArgs({
  options: {
    issuer: { type: 'string' },
    'client-id': { type: 'string' },
    'client-secret': { type: 'string' },
    scope: { type: 'string', default: 'openid profile offline_access' },
    wait: { type: 'string' },
  },
});
for (const required of ['issuer', 'client-id']) {
  if (!args[required]) throw new Error(`--${required} is required`);
}

const secret = args['client-secret'];
const issuer = new URL(args.issuer);
// Plain http is allowed only for a loopback issuer (the tests' servers).
const loopback = ['127.0.0.1', 'localhost', '[::1]'].includes(issuer.hostname);
const config = await client.discovery(
  issuer,
  args['client-id'],
  secret === undefined ? undefined : { client_secret: secret },
  secret === undefined ? client.None() : client.ClientSecretBasic(secret),
  loopback && issuer.protocol === 'http:'
    ? { execute: [client.allowInsecureRequests] }
    : undefined,
);
// By default openid-client checks an ID token's claims (iss, aud, azp, exp,
// iat) and its alg, but not its signature (it came straight from the token
// endpoint over TLS); this makes it verify the signature against the JWKS too.
client.enableNonRepudiationChecks(config);

const device = await client.initiateDeviceAuthorization(config, { scope: args.scope });
console.log(JSON.stringify(device));

const extra = args.wait === undefined ? undefined : { wait: args.wait };
const tokens = await client.pollDeviceAuthorizationGrant(config, device, extra);
const claims = tokens.claims();
if (!claims) throw new Error('no id_token in the token response');

let refreshed = null;
if (tokens.refresh_token) {
  const next = await client.refreshTokenGrant(config, tokens.refresh_token);
  refreshed = {
    claims: next.claims() ?? null,
    scope: next.scope ?? null,
    new_refresh_token: Boolean(next.refresh_token) && next.refresh_token !== tokens.refresh_token,
    new_access_token: next.access_token !== tokens.access_token,
  };
}

console.log(JSON.stringify({
  token_type: tokens.token_type,
  scope: tokens.scope ?? null,
  expires_in: tokens.expires_in ?? null,
  has_refresh_token: Boolean(tokens.refresh_token),
  claims,
  refreshed,
  discovery: {
    issuer: config.serverMetadata().issuer,
    device_authorization_endpoint: config.serverMetadata().device_authorization_endpoint,
  },
}));
