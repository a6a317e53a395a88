/**
 * The console's one HTML page: a shell that loads its script and style sheet, nothing inline.
 * It names the mode (not a secret: the token prompt shows it anyway), so a tab without a token
 * asks for one without first being refused.
 */
export const pageHtml = (mode: "token" | "read-only") => `<!doctype html>
<html lang="en" data-mode="${mode === "token" ? "token" : "read-only"}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>rune-scheduler console</title>
<link rel="icon" href="/console/icon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/console/app.css">
<script type="module" src="/console/app.js"></script>
</head>
<body>
<noscript>The rune-scheduler console needs JavaScript.</noscript>
<div id="app"></div>
</body>
</html>
`;
