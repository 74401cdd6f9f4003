// autocannon ships no types; what the benchmark uses of it.
declare module "autocannon" {
  interface Options {
    url: string;
    method?: string;
    body?: string;
    headers?: Record<string, string>;
    connections?: number;
    duration?: number;
    expectBody?: string;
  }
  interface Histogram {
    average: number;
    p50: number;
    p99: number;
    total: number;
  }
  interface Result {
    requests: Histogram;
    latency: Histogram;
    errors: number;
    timeouts: number;
    non2xx: number;
    mismatches?: number;
    statusCodeStats?: Record<number, { count: number }>;
  }
  export default function autocannon(options: Options): Promise<Result>;
}
