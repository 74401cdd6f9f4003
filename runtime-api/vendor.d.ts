// Type declarations for packages bundled into the runtime that ship none.
declare module "object-inspect" {
  interface InspectOptions {
    depth?: number;
    maxStringLength?: number | null;
    indent?: number | "\t";
    quoteStyle?: "single" | "double";
  }
  export default function inspect(value: unknown, options?: InspectOptions): string;
}
