// Relay reads documents only from JavaScript or TypeScript sources, never from .graphql files
// ("Expected *.graphql/*.gql file to be either a schema or extension"). This writes each
// operations/<Module>.graphql as <outDir>/<Module>.ts, one graphql`` tag per definition, so
// relay-compiler checks the very files graphql-codegen reads: `node examples/relay-sources.mjs`.
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parse } from "graphql";

const examples = dirname(fileURLToPath(import.meta.url));
const operations = join(examples, "operations");
const generated = join(examples, "__generated__");
const outDir = process.argv[2] ?? join(examples, "relay-sources");

mkdirSync(outDir, { recursive: true });
if (process.argv[2] === undefined) {
  mkdirSync(join(generated, "relay"), { recursive: true }); // relay.config.json's artifactDirectory
  // relay-compiler's persistConfig adds to its manifest, which must exist.
  const manifest = join(generated, "relay", "persisted-documents.json");
  if (!existsSync(manifest)) writeFileSync(manifest, "{}\n");
}
for (const file of readdirSync(operations).filter((name) => name.endsWith(".graphql"))) {
  const text = readFileSync(join(operations, file), "utf8");
  const tags = parse(text).definitions.map(
    (definition) => `graphql\`\n${text.slice(definition.loc.start, definition.loc.end)}\n\`;\n`,
  );
  const module = basename(file, ".graphql");
  const source = `import { graphql } from "relay-runtime";\n\n${tags.join("\n")}`;
  writeFileSync(join(outDir, `${module}.ts`), source);
}
