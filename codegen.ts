// Types for the example operations (examples/operations), as a storefront or mini-program
// team generates them: `npx graphql-codegen`. Custom scalars are strings on the wire. The client
// preset also writes persisted-documents.json, the {"<sha256>": "<text>"} manifest a server in
// POINTSMALL_DOCUMENTS=trusted mode loads (POINTSMALL_TRUSTED_DOCUMENTS); clients then send a
// document's hash (its `__meta__.hash`) as `documentId` or `extensions.persistedQuery`.
import { addTypenameToDocument } from "@apollo/client/utilities";
import type { CodegenConfig } from "@graphql-codegen/cli";

const scalars = { DateTime: "string", Date: "string", Decimal: "string" };

const config: CodegenConfig = {
  schema: "schema.graphql",
  documents: "examples/operations/*.graphql",
  generates: {
    [process.env.POINTSMALL_CODEGEN_OUT ?? "examples/__generated__/operations.ts"]: {
      plugins: ["typescript", "typescript-operations"],
      config: {
        strictScalars: true,
        scalars,
        enumsAsTypes: true,
        dedupeOperationSuffix: true,
      },
    },
    [process.env.POINTSMALL_CODEGEN_CLIENT_OUT ?? "examples/__generated__/client/"]: {
      preset: "client",
      presetConfig: { persistedDocuments: { hashAlgorithm: "sha256" }, fragmentMasking: false },
      documentTransforms: [
        {
          // `__typename` in every selection set but the operation's root, as Apollo Client's
          // cache adds it: normalized caches (Apollo's, urql's) match fragments by it when the
          // server runs the manifest's text. (codegen's addTypenameSelectionDocumentTransform
          // adds it to the root too, where a pre-check needs its field alone: schema/prechecks.py.)
          transform: ({ documents }) =>
            documents.map((source) => ({
              ...source,
              document: source.document && addTypenameToDocument(source.document),
            })),
        },
      ],
      config: { strictScalars: true, scalars, enumsAsTypes: true },
    },
  },
};

export default config;
