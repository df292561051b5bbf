/** `npm run token -- <user> [email]`: prints a development token for `user`, valid for 7 days. */
import { loadConfig } from '../config.js';
import { signToken } from '../auth/tokens.js';

const [subject, email] = process.argv.slice(2);
if (!subject) {
  console.error('usage: npm run token -- <user> [email]');
  process.exit(2);
}
const { jwt } = loadConfig();
if (jwt.secret === undefined) {
  console.error('no JWT_SECRET is configured: tokens come from your identity provider');
  process.exit(2);
}
console.log(await signToken(jwt.secret, subject, { email, issuer: jwt.issuer, audience: jwt.audience }));
