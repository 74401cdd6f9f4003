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

declare module "whatwg-url" {
  export class URL {
    constructor(url: string, base?: string | URL);
    static canParse(url: string, base?: string): boolean;
    href: string;
    readonly origin: string;
    protocol: string;
    username: string;
    password: string;
    host: string;
    hostname: string;
    port: string;
    pathname: string;
    search: string;
    readonly searchParams: URLSearchParams;
    hash: string;
    toJSON(): string;
  }
  export class URLSearchParams {
    constructor(init?: string | Record<string, string> | Iterable<[string, string]>);
    append(name: string, value: string): void;
    delete(name: string): void;
    get(name: string): string | null;
    getAll(name: string): string[];
    has(name: string): boolean;
    set(name: string, value: string): void;
    sort(): void;
    toString(): string;
    entries(): IterableIterator<[string, string]>;
    keys(): IterableIterator<string>;
    values(): IterableIterator<string>;
    [Symbol.iterator](): IterableIterator<[string, string]>;
    readonly size: number;
  }
}
