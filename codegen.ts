// Types for the example operations (examples/operations), as a storefront or mini-program
// team generates them: `npx graphql-codegen`. Custom scalars are strings on the wire. The client
// preset also writes persisted-documents.json, the {"<sha256>": "<text>"} manifest a server in
// POINTSMALL_DOCUMENTS=trusted mode loads (POINTSMALL_TRUSTED_DOCUMENTS); clients then send
// {documentId, variables}.
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
      config: { strictScalars: true, scalars, enumsAsTypes: true },
    },
  },
};

export default config;
