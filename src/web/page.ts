/**
 * The dashboard's HTML shell and the headers every dashboard response carries. The shell holds no
 * inline script or style, so the Content-Security-Policy can forbid both: scripts, styles, fetches
 * and the graphql-ws socket may only reach this origin ('self' covers ws:/wss: of the same host in
 * CSP Level 3, https://www.w3.org/TR/CSP3/#match-url-to-source-expression).
 */

export const DASHBOARD_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** Headers of the shell and its assets: the CSP above plus the usual hardening. */
export function securityHeaders(contentType: string): Record<string, string> {
  return {
    'content-type': contentType,
    'content-security-policy': DASHBOARD_CSP,
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
    'cache-control': 'no-cache',
  };
}

/**
 * The shell. `devTokens` only tells the page to show the development sign-in button; the secret
 * that signs those tokens never leaves the server.
 */
export function dashboardHtml(options: { devTokens: boolean }): string {
  return `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <meta name="viewport" content="width=device-width, initial-scale=1" />
    <meta name="tickler-dev-tokens" content="${options.devTokens ? 'on' : 'off'}" />
    <title>Tickler</title>
    <link rel="icon" href="data:," />
    <link rel="stylesheet" href="/assets/dashboard.css" />
    <script type="module" src="/assets/dashboard.js"></script>
  </head>
  <body>
    <tickler-dashboard></tickler-dashboard>
    <noscript>The Tickler dashboard needs JavaScript.</noscript>
  </body>
</html>
`;
}
