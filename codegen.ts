// Types for the example operations (examples/operations), as a storefront or mini-program
// team generates them: `npx graphql-codegen`. Custom scalars are strings on the wire.
import type { CodegenConfig } from "@graphql-codegen/cli";

const config: CodegenConfig = {
  schema: "schema.graphql",
  documents: "examples/operations/*.graphql",
  generates: {
    [process.env.POINTSMALL_CODEGEN_OUT ?? "examples/__generated__/operations.ts"]: {
      plugins: ["typescript", "typescript-operations"],
      config: {
        strictScalars: true,
        scalars: { DateTime: "string", Date: "string", Decimal: "string" },
        enumsAsTypes: true,
        dedupeOperationSuffix: true,
      },
    },
  },
};

export default config;
